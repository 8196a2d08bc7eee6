// Checkpoints written on one background thread, in submission order, so that training never
// waits for HDF5 and fsync. submit() first copies every tensor to host memory (the model goes
// on changing); each file is still replaced atomically (io/checkpoint.h).
// Tested through the training run in tests/apps/test_train_app.cpp.
#pragma once

#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <string>
#include <thread>

#include "io/checkpoint.h"

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
  // Returns once every submitted write is on disk; rethrows the first failure.
  void wait();
  // Seconds the background thread spent writing.
  double busy_seconds();

 private:
  struct Job {
    std::string path;
    CheckpointModel model;
    CheckpointMeta meta;
  };
  void run();

  std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Job> queue_;
  bool busy_ = false, stopping_ = false;
  std::exception_ptr error_;
  double busy_seconds_ = 0;
  std::thread thread_;
};

}  // namespace vggtl
