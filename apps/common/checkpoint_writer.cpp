// The writer thread takes jobs in order; a failed write is kept and reported by wait(), later
// jobs still run (each file is atomic on its own).
#include "apps/common/checkpoint_writer.h"

#include "engine/timer.h"

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
    bool replaced = false;
    for (Job& queued : queue_)  // not started yet: the newer content takes its place
      if (queued.path == path) {
        queued.model = std::move(model);
        queued.meta = std::move(meta);
        ++superseded_;
        replaced = true;
        break;
      }
    if (!replaced) queue_.push_back(Job{path, std::move(model), std::move(meta)});
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

double CheckpointWriter::busy_seconds() {
  std::lock_guard<std::mutex> lock(mutex_);
  return busy_seconds_;
}

int64_t CheckpointWriter::superseded() {
  std::lock_guard<std::mutex> lock(mutex_);
  return superseded_;
}

void CheckpointWriter::run() {
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
      write_checkpoint(job.path, job.model, job.meta);
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
