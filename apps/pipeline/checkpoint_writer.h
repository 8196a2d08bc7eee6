// Checkpoints written on one background thread, in submission order, so that training never
// waits for HDF5 and fsync. submit() first copies every tensor to host memory (the model goes
// on changing); each file is still replaced atomically (io/hdf5/checkpoint.h). A write still queued
// when a newer one of the same file arrives is dropped: epochs on a GPU can end faster than a
// disk syncs files, and the newer file supersedes it (on disk there is always a complete file
// of some recent epoch). stage() writes a file's frozen layers ahead (io/hdf5/checkpoint.h,
// StagedCheckpoint), so that its final write at the end of the run costs only the rest.
// Tested by tests/apps/test_train_app.cpp (CheckpointWriter suite).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "io/hdf5/checkpoint.h"

namespace vggtl {

// Replaces every tensor of `model` and `meta` by a host copy (synchronises the device).
void snapshot_to_host(CheckpointModel* model, CheckpointMeta* meta);

class CheckpointWriter {
 public:
  CheckpointWriter();
  ~CheckpointWriter();  // finishes the queue; errors left unreported are dropped
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  // Queues a write of host tensors (see snapshot_to_host).
  void submit(const std::string& path, CheckpointModel model, CheckpointMeta meta);
  // Queues the staging of `layers` (host tensors) for a later write of `path`: that write uses
  // them when its model holds the same layers byte for byte, and writes normally otherwise. A
  // staging that fails costs nothing but a warning.
  void stage(const std::string& path, std::vector<CheckpointLayer> layers);
  // Returns once every submitted write is on disk; rethrows the first failure.
  void wait();
  // Rethrows the first failure so far without waiting (a run stops at the next epoch's end
  // rather than training on with no checkpoint reaching the disk).
  void check();
  // Seconds the background thread spent writing.
  double busy_seconds();
  // Queued writes dropped because a newer write of the same file replaced them.
  int64_t superseded();

 private:
  struct Job {
    std::string path;
    CheckpointModel model;
    CheckpointMeta meta;
    bool stage_only = false;
  };
  void write(Job& job);  // on the writer thread
  void run();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool busy_ = false, stopping_ = false;
  std::exception_ptr error_;
  double busy_seconds_ = 0;
  int64_t superseded_ = 0;
  std::map<std::string, std::unique_ptr<StagedCheckpoint>> staged_;  // writer thread only
  std::thread thread_;
};

}  // namespace vggtl
