// The writer thread takes jobs in order; a failed write is kept and reported by wait(), later
// jobs still run (each file is atomic on its own).
#include "apps/pipeline/checkpoint_writer.h"

#include "engine/log.h"
#include "engine/timer.h"
#include "io/hdf5/hdf5.h"

namespace vggtl {

void snapshot_to_host(CheckpointModel* model, CheckpointMeta* meta) {
  Device device = Device::cpu();
  auto host = [&](Tensor& t) {
    if (t.is_cuda()) device = t.device();
    t = to_device(t, Device::cpu());  // a copy even on the CPU: the model's arena changes
  };
  for (CheckpointLayer& l : model->layers)
    for (NamedTensor& w : l.weights) host(w.value);
  for (NamedTensor& s : meta->optimizer_state) host(s.value);
  synchronize(device);
}

CheckpointWriter::CheckpointWriter() : thread_([this] { run(); }) {}

CheckpointWriter::~CheckpointWriter() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void CheckpointWriter::submit(const std::string& path, CheckpointModel model, CheckpointMeta meta) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Not started yet and the newest job: the newer content takes its place. Only the newest,
    // so that files are written in the order they were submitted (a run writes last.h5 before
    // best.h5, and --resume relies on best.h5 never being ahead of last.h5 on disk).
    if (!queue_.empty() && queue_.back().path == path && !queue_.back().stage_only) {
      queue_.back().model = std::move(model);
      queue_.back().meta = std::move(meta);
      ++superseded_;
    } else {
      queue_.push_back(Job{path, std::move(model), std::move(meta)});
    }
  }
  cv_.notify_all();
}

void CheckpointWriter::wait() {
  std::unique_lock<std::mutex> lock(mutex_);
  cv_.wait(lock, [&] { return queue_.empty() && !busy_; });
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

void CheckpointWriter::check() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (error_) {
    std::exception_ptr e = error_;
    error_ = nullptr;
    std::rethrow_exception(e);
  }
}

double CheckpointWriter::busy_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  return busy_seconds_;
}

void CheckpointWriter::stage(const std::string& path, std::vector<CheckpointLayer> layers) {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    Job job{path, CheckpointModel(), CheckpointMeta(), true};
    job.model.layers = std::move(layers);
    queue_.push_back(std::move(job));
  }
  cv_.notify_all();
}

void CheckpointWriter::write(Job& job) {
  if (job.stage_only) {
    try {
      staged_[job.path] = std::make_unique<StagedCheckpoint>(job.path, std::move(job.model.layers));
    } catch (const std::exception& e) {
      log_warning(std::string("could not write ahead the frozen layers of ") + job.path + " (" + e.what() +
                  "); it will be written whole at the end");
    }
    return;
  }
  auto it = staged_.find(job.path);
  if (it != staged_.end() && it->second->matches(job.model)) {
    std::unique_ptr<StagedCheckpoint> staged = std::move(it->second);
    staged_.erase(it);
    write_checkpoint(job.path, job.model, job.meta, staged.get());
    return;
  }
  write_checkpoint(job.path, job.model, job.meta);
}

int64_t CheckpointWriter::superseded() {
  std::lock_guard<std::mutex> lock(mutex_);
  return superseded_;
}

void CheckpointWriter::run() {
  // libhdf5 allocates a thread's error stack at its first call and does not check that
  // allocation: under a tight memory limit (ulimit -v) the first write of a checkpoint crashed
  // there. Made now, while the run has allocated little.
  { auto hdf5 = h5::lock(); }
  std::unique_lock<std::mutex> lock(mutex_);
  while (true) {
    cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (queue_.empty()) return;  // stopping with nothing left
    Job job = std::move(queue_.front());
    queue_.pop_front();
    busy_ = true;
    lock.unlock();
    Stopwatch clock;
    std::exception_ptr failure;
    try {
      write(job);
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    busy_seconds_ += clock.seconds();
    if (failure && !error_) error_ = failure;
    busy_ = false;
    cv_.notify_all();
  }
}

}  // namespace vggtl
