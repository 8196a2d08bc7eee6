// The hybrid JPEG decoder end to end, against libjpeg-turbo's full decode at the same worker count:
// full decode, entropy decoding alone (the hybrid's ceiling when the GPU stages are free), the
// batch on the CPU twins and on the GPU. With --folder DIR it runs on every JPEG under DIR
// (recursively, by magic bytes) and first checks the batch's pixels against libjpeg's, file by file.
//   bench_gpu_jpeg [--folder DIR] [--workers N] [--batch N] [--quick] [--reps N] [--cpu-only]
// jpeglib.h needs size_t and FILE declared first.
#include <cstddef>
#include <cstdio>
#include <jpeglib.h>

#include <algorithm>
#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench_harness.h"
#include "engine/context.h"
#include "io/gpu_jpeg.h"

using namespace vggtl;

namespace {

struct LibjpegError {
  jpeg_error_mgr pub;
  std::jmp_buf jump;
};
[[noreturn]] void on_error(j_common_ptr cinfo) {
  std::longjmp(reinterpret_cast<LibjpegError*>(cinfo->err)->jump, 1);
}
void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) on_error(cinfo);  // like the batch: a warning is a failure
}

// libjpeg-turbo's full default decode (ISLOW, fancy upsampling) to RGB; gray replicated.
bool libjpeg_decode(const std::vector<uint8_t>& file, std::vector<uint8_t>* rgb, int* w, int* h) {
  jpeg_decompress_struct cinfo;
  LibjpegError err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  err.pub.emit_message = on_message;
  volatile bool created = false, ok = false;
  if (!setjmp(err.jump)) {
    jpeg_create_decompress(&cinfo);
    created = true;
    jpeg_mem_src(&cinfo, file.data(), static_cast<unsigned long>(file.size()));
    jpeg_read_header(&cinfo, TRUE);
    if (cinfo.num_components == 1) cinfo.out_color_space = JCS_RGB;  // gray -> R = G = B
    if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
      jpeg_abort_decompress(&cinfo);  // outside this bench's comparison
    } else {
      jpeg_start_decompress(&cinfo);
      *w = static_cast<int>(cinfo.output_width);
      *h = static_cast<int>(cinfo.output_height);
      rgb->resize(static_cast<size_t>(*w) * *h * 3);
      while (cinfo.output_scanline < cinfo.output_height) {
        JSAMPROW row = rgb->data() + static_cast<size_t>(cinfo.output_scanline) * *w * 3;
        jpeg_read_scanlines(&cinfo, &row, 1);
      }
      jpeg_finish_decompress(&cinfo);
      ok = true;
    }
  }
  if (created) jpeg_destroy_decompress(&cinfo);
  return ok;
}

// Synthetic stand-ins for a folder: photograph-sized 4:2:0 JPEGs with smooth and busy regions.
std::vector<uint8_t> encode_synthetic(int w, int h, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> px(static_cast<size_t>(w) * h * 3);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c) {
        const int smooth = (x * (c + 1) + y * (3 - c)) % 256;
        px[(static_cast<size_t>(y) * w + x) * 3 + c] =
            static_cast<uint8_t>((x / 40 + y / 40) % 3 == 0 ? rng() % 256 : smooth);
      }
  jpeg_compress_struct cinfo;
  LibjpegError err;
  cinfo.err = jpeg_std_error(&err.pub);
  err.pub.error_exit = on_error;
  unsigned char* volatile out = nullptr;
  unsigned long size = 0;
  std::vector<uint8_t> result;
  if (!setjmp(err.jump)) {
    jpeg_create_compress(&cinfo);
    unsigned char* buf = nullptr;
    jpeg_mem_dest(&cinfo, &buf, &size);
    cinfo.image_width = static_cast<JDIMENSION>(w);
    cinfo.image_height = static_cast<JDIMENSION>(h);
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, 75, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
      JSAMPROW row = px.data() + static_cast<size_t>(cinfo.next_scanline) * w * 3;
      jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    out = buf;
    result.assign(buf, buf + size);
  }
  jpeg_destroy_compress(&cinfo);
  std::free(out);
  return result;
}

std::vector<std::vector<uint8_t>> read_folder(const std::string& dir, std::vector<std::string>* names) {
  std::vector<std::string> paths;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir))
    if (e.is_regular_file()) paths.push_back(e.path().string());
  std::sort(paths.begin(), paths.end());
  std::vector<std::vector<uint8_t>> files;
  for (const std::string& p : paths) {
    std::ifstream in(p, std::ios::binary);
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (bytes.size() >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF) {
      files.push_back(std::move(bytes));
      names->push_back(p);
    }
  }
  return files;
}

Tensor host_copy(const Tensor& t) {
  Tensor h = Tensor::empty(t.shape(), t.dtype());
  copy(h, t);
  synchronize(t.device());
  return h;
}

// Decodes everything in batches of `batch`; calls check(i, item, image bytes) per input.
template <typename Check>
void run_batches(GpuJpegBatch& gpu, const std::vector<std::vector<uint8_t>>& files, int batch,
                 Check check) {
  for (size_t first = 0; first < files.size(); first += static_cast<size_t>(batch)) {
    const size_t last = std::min(files.size(), first + static_cast<size_t>(batch));
    std::vector<JpegInput> in;
    for (size_t i = first; i < last; ++i) in.push_back(JpegInput{files[i].data(), files[i].size()});
    gpu.decode(in);
    check(first, gpu);
  }
}

void check_against_libjpeg(const std::vector<std::vector<uint8_t>>& files,
                           const std::vector<std::string>& names, Device device, DecodePool& pool,
                           int batch) {
  GpuJpegBatch gpu(device, &pool);
  int64_t decoded = 0, identical = 0, fallback = 0, bytes = 0, equal_bytes = 0, worst = 0;
  run_batches(gpu, files, batch, [&](size_t first, GpuJpegBatch& b) {
    const Tensor all = b.rgb().defined() && b.rgb().is_cuda() ? host_copy(b.rgb()) : b.rgb();
    for (size_t k = 0; k < b.items().size(); ++k) {
      const GpuJpegItem& it = b.items()[k];
      if (!it.decoded) {
        ++fallback;
        std::printf("  fallback %s: %s\n", names[first + k].c_str(), it.reason.c_str());
        continue;
      }
      ++decoded;
      std::vector<uint8_t> ref;
      int w = 0, h = 0;
      if (!libjpeg_decode(files[first + k], &ref, &w, &h) || w != it.width || h != it.height) {
        std::printf("  %s: libjpeg disagrees about the file\n", names[first + k].c_str());
        continue;
      }
      const uint8_t* got = all.data<uint8_t>() + it.rgb_offset;
      int64_t same = 0;
      for (size_t i = 0; i < ref.size(); ++i) {
        same += got[i] == ref[i];
        worst = std::max<int64_t>(worst, std::abs(int{got[i]} - int{ref[i]}));
      }
      bytes += static_cast<int64_t>(ref.size());
      equal_bytes += same;
      identical += same == static_cast<int64_t>(ref.size());
    }
  });
  std::printf("check %-6s: %zu JPEGs, %lld decoded by the batch, %lld identical to libjpeg, "
              "%lld of %lld bytes equal, worst difference %lld, %lld left to the CPU decoder\n",
              device.str().c_str(), files.size(), static_cast<long long>(decoded),
              static_cast<long long>(identical), static_cast<long long>(equal_bytes),
              static_cast<long long>(bytes), static_cast<long long>(worst),
              static_cast<long long>(fallback));
}

}  // namespace

int main(int argc, char** argv) {
  std::string folder;
  int workers = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  int batch = 30;
  std::vector<char*> rest = {argv[0]};
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--folder") && i + 1 < argc) folder = argv[++i];
    else if (!std::strcmp(argv[i], "--workers") && i + 1 < argc) workers = std::max(1, std::atoi(argv[++i]));
    else if (!std::strcmp(argv[i], "--batch") && i + 1 < argc) batch = std::max(1, std::atoi(argv[++i]));
    else rest.push_back(argv[i]);
  }
  bench::Options opt = bench::parse_options(static_cast<int>(rest.size()), rest.data());
  opt.reps = std::min(opt.reps, 5);

  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> files;
  if (!folder.empty()) {
    files = read_folder(folder, &names);
  } else {
    for (int i = 0; i < (opt.quick ? 30 : 120); ++i) {
      files.push_back(encode_synthetic(500, 375, static_cast<uint64_t>(i)));
      names.push_back("synthetic " + std::to_string(i));
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "no JPEG files found\n");
    return 2;
  }
  DecodePool pool(workers);
  const double n = static_cast<double>(files.size());
  std::printf("%zu JPEGs%s, %d workers, batches of %d\n", files.size(),
              folder.empty() ? " (synthetic 500x375 4:2:0)" : "", workers, batch);

  if (!folder.empty()) {
    check_against_libjpeg(files, names, Device::cpu(), pool, batch);
    if (opt.gpu && cuda_available()) check_against_libjpeg(files, names, Device::cuda(), pool, batch);
  }

  std::vector<std::vector<uint8_t>> rgb(files.size());
  const double full_ms = bench::median_ms(Device::cpu(), [&] {
    pool.parallel_for(static_cast<int64_t>(files.size()), [&](int64_t i) {
      int w, h;
      libjpeg_decode(files[i], &rgb[i], &w, &h);
    });
  }, opt);
  bench::report("libjpeg-turbo full decode", Device::cpu(), full_ms, 0, 0,
                std::to_string(static_cast<long long>(n / (full_ms * 1e-3))) + " images/s");

  std::vector<JpegCoefficients> coefs(files.size());
  const double entropy_ms = bench::median_ms(Device::cpu(), [&] {
    pool.parallel_for(static_cast<int64_t>(files.size()), [&](int64_t i) {
      std::string why;
      read_jpeg_coefficients(files[i].data(), files[i].size(), &coefs[i], &why);
    });
  }, opt);
  bench::report("entropy decode only (jpeg_read_coefficients)", Device::cpu(), entropy_ms, 0, 0,
                std::to_string(static_cast<long long>(n / (entropy_ms * 1e-3))) +
                    " images/s; hybrid ceiling " + std::to_string(full_ms / entropy_ms).substr(0, 4) +
                    "x full decode");

  GpuJpegBatch cpu_batch(Device::cpu(), &pool);
  const double twins_ms = bench::median_ms(Device::cpu(), [&] {
    run_batches(cpu_batch, files, batch, [](size_t, GpuJpegBatch&) {});
  }, opt);
  bench::report("batch on the CPU twins", Device::cpu(), twins_ms, 0, 0,
                std::to_string(static_cast<long long>(n / (twins_ms * 1e-3))) + " images/s");

  if (!bench::skip_gpu(opt, "batch on the GPU")) {
    GpuJpegBatch gpu_batch(Device::cuda(), &pool);
    const double gpu_ms = bench::median_ms(Device::cpu(), [&] {
      run_batches(gpu_batch, files, batch, [](size_t, GpuJpegBatch&) {});
      synchronize(Device::cuda());
    }, opt);
    bench::report("batch on the GPU (entropy on CPU workers)", Device::cuda(), gpu_ms, 0, 0,
                  std::to_string(static_cast<long long>(n / (gpu_ms * 1e-3))) + " images/s, " +
                      std::to_string(full_ms / gpu_ms).substr(0, 4) + "x full decode");
  }
  return 0;
}
