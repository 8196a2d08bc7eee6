// The loader's hybrid JPEG row stage: the loader's own workers read each file and entropy-decode
// the JPEGs the GPU kernels cover into the slot's coefficient arena (pinned); finish_batch then
// uploads the arena and the batch's descriptors and runs IDCT, upsampling + colour and the
// batched resize + preprocess, writing Batch::device_images. Every other file (PNG, BMP, CMYK,
// unsupported sampling, failed entropy decoding, a full arena) takes the CPU stage's route and
// its row is copied in. Rows equal the CPU stage's bit for bit. Tests: tests/io/test_gpu_row_stage.cpp.
#pragma once

#include <cstdint>
#include <memory>

#include "engine/device.h"
#include "io/loader/image_loader.h"

namespace vggtl {

// Rows filled since the stage was made, by route.
struct GpuRowCounts {
  int64_t gpu = 0;         // entropy-decoded here, finished by the batch kernels
  int64_t cpu = 0;         // decoded (or found bad) by the CPU route
  int64_t arena_full = 0;  // of those, JPEGs the GPU chain takes that found the arena full
};

class GpuRowStage : public RowStage {
 public:
  virtual GpuRowCounts counts() const = 0;
};

// device: CUDA, or the CPU, where the same chain runs on the CPU twins (a test of the whole
// staged pipeline on any machine). workers: the loader's worker count. arena_bytes: the starting
// size of each slot's coefficient arena (0: 1 MiB per row); it grows to what a batch asked for,
// up to 1 GiB.
std::unique_ptr<GpuRowStage> make_gpu_row_stage(const LoaderOptions& opt, Device device, int workers,
                                                int64_t arena_bytes = 0);

}  // namespace vggtl
