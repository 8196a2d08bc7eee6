// Input pipeline: images/s of read + decode + resize + preprocess through ImageLoader with 1, 2
// and all worker threads, CPU stage against the hybrid GPU stage (entropy decoding on the
// workers, the rest on the GPU; skipped without one), with full decode alone (CPU scan) and
// entropy decoding alone (hybrid scan), whose ratio bounds what the hybrid path can gain at the
// same core count; over the image files found recursively in FOLDER (default: a generated set
// of 500x375 baseline JPEGs). First it checks the hybrid stage's rows against the CPU stage's.
// --dump FILE writes what the pipeline feeds instead of timing: FILE holds every image's
// (S, S, 3) float32 row in file order and FILE.txt one line "relpath<TAB>ok<TAB>reason" each;
// scripts/check_pixels_against_pil.py compares that with Pillow and Keras's rules.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include <unistd.h>

#include <jpeglib.h>

#include "bench_harness.h"
#include "engine/error.h"
#include "engine/timer.h"
#include "io/loader/dataset.h"
#include "io/loader/gpu_row_stage.h"
#include "io/loader/image_loader.h"
#include "io/loader/shuffle.h"

using namespace vggtl;
namespace fs = std::filesystem;

namespace {

struct Args {
  std::string folder;
  std::string dump;
  int image_size = 224;
  ResizeFilter filter = ResizeFilter::Nearest;
  PixelTransform transform = PixelTransform::Caffe;
  std::vector<std::string> harness;  // options passed on to bench::parse_options
};

[[noreturn]] void usage(const char* argv0) {
  std::fprintf(stderr,
               "usage: %s [FOLDER] [--image-size S] [--interpolation nearest|bilinear] [--transform caffe|none]\n"
               "          [--dump FILE] [--quick] [--reps N]\n",
               argv0);
  std::exit(2);
}

Args parse(int argc, char** argv) {
  Args a;
  a.harness.push_back(argv[0]);
  for (int i = 1; i < argc; ++i) {
    const std::string s = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) usage(argv[0]);
      return argv[++i];
    };
    if (s == "--image-size") {
      a.image_size = std::atoi(value().c_str());
    } else if (s == "--interpolation") {
      const std::string v = value();
      if (v != "nearest" && v != "bilinear") usage(argv[0]);
      a.filter = v == "nearest" ? ResizeFilter::Nearest : ResizeFilter::Bilinear;
    } else if (s == "--transform") {
      const std::string v = value();
      if (v != "caffe" && v != "none") usage(argv[0]);
      a.transform = v == "caffe" ? PixelTransform::Caffe : PixelTransform::None;
    } else if (s == "--dump") {
      a.dump = value();
    } else if (s == "--reps") {
      a.harness.push_back(s);
      a.harness.push_back(value());
    } else if (s == "--quick" || s == "--cpu-only" || s == "--gpu-only") {
      a.harness.push_back(s);
    } else if (!s.empty() && s[0] != '-' && a.folder.empty()) {
      a.folder = s;
    } else {
      usage(argv[0]);
    }
  }
  if (a.image_size < 32) usage(argv[0]);
  return a;
}

// Every file with an image extension below root, sorted by relative path; label 0.
std::vector<DataItem> collect(const std::string& root) {
  std::vector<DataItem> items;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (!e.is_regular_file() || !has_image_extension(e.path().filename().string())) continue;
    DataItem item;
    item.path = e.path().string();
    item.relpath = fs::relative(e.path(), root).generic_string();
    item.label = 0;
    item.bytes = e.file_size();
    items.push_back(std::move(item));
  }
  std::sort(items.begin(), items.end(), [](const DataItem& x, const DataItem& y) { return x.relpath < y.relpath; });
  return items;
}

// A photo-like set: smooth colour fields with texture, baseline 4:2:0 at quality 90.
std::string generate_set(int count) {
  const fs::path dir = fs::temp_directory_path() / ("vggtl_bench_decode_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const int w = 500, h = 375;
  std::vector<uint8_t> rgb(static_cast<size_t>(w) * h * 3);
  for (int n = 0; n < count; ++n) {
    uint32_t state = 2463534242u + n;
    for (int y = 0; y < h; ++y)
      for (int x = 0; x < w; ++x) {
        state ^= state << 13, state ^= state >> 17, state ^= state << 5;
        const int noise = static_cast<int>(state % 24);
        uint8_t* p = &rgb[(static_cast<size_t>(y) * w + x) * 3];
        p[0] = static_cast<uint8_t>((x * 200 / w + n * 7 + noise) & 255);
        p[1] = static_cast<uint8_t>((y * 180 / h + noise) & 255);
        p[2] = static_cast<uint8_t>(((x + y) * 120 / (w + h) + 60 + noise) & 255);
      }
    jpeg_compress_struct c;
    jpeg_error_mgr err;
    c.err = jpeg_std_error(&err);  // the default handler exits: acceptable for a bench's own data
    jpeg_create_compress(&c);
    const std::string path = (dir / ("gen_" + std::to_string(n) + ".jpg")).string();
    std::FILE* f = std::fopen(path.c_str(), "wb");
    VGGTL_CHECK(f, "cannot write ", path);
    jpeg_stdio_dest(&c, f);
    c.image_width = w, c.image_height = h, c.input_components = 3, c.in_color_space = JCS_RGB;
    jpeg_set_defaults(&c);
    jpeg_set_quality(&c, 90, TRUE);
    jpeg_start_compress(&c, TRUE);
    while (c.next_scanline < c.image_height) {
      JSAMPROW row = &rgb[static_cast<size_t>(c.next_scanline) * w * 3];
      jpeg_write_scanlines(&c, &row, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    std::fclose(f);
  }
  return dir.string();
}

LoaderOptions loader_options(const Args& a, int workers) {
  LoaderOptions o;
  o.image_size = a.image_size;
  o.filter = a.filter;
  o.transform = a.transform;
  o.workers = workers;
  return o;
}

// Seconds per pass and process CPU milliseconds per image: wall time gives images/s; CPU time
// is printed too because on a shared machine it is the steadier measure of the work itself.
struct Timing {
  double seconds = 0;
  double cpu_ms = 0;
};

template <typename F>
Timing timed(int passes, size_t images, F pass) {
  Stopwatch sw;
  const std::clock_t cpu0 = std::clock();
  for (int p = 0; p < passes; ++p) pass();
  Timing t;
  t.seconds = sw.seconds() / passes;
  t.cpu_ms = 1e3 * static_cast<double>(std::clock() - cpu0) / CLOCKS_PER_SEC / passes / static_cast<double>(images);
  return t;
}

// Whole epochs through the loader, after one for warm-up (file cache, buffers, arena growth);
// `device` is waited for at the end of each.
Timing run_epochs(ImageLoader& loader, int passes, size_t images, Device device) {
  auto epoch = [&] {
    loader.start_epoch(identity_order(loader.size()));
    while (loader.next()) {
    }
    synchronize(device);
  };
  epoch();
  return timed(passes, images, epoch);
}

Timing run_scans(ImageLoader& loader, int passes, size_t images) {
  return timed(passes, images, [&] { loader.scan(); });
}

// The hybrid stage on `device` against the CPU stage, row by row over every item: the rows
// must be identical and the same files bad for the same reasons.
void check_rows(const Args& a, const std::vector<DataItem>& items, int workers, Device device) {
  LoaderOptions lo = loader_options(a, workers);
  ImageLoader cpu(items, lo);
  lo.device = device;
  auto stage = make_gpu_row_stage(lo, device, workers);
  const GpuRowStage* counts = stage.get();
  ImageLoader hybrid(items, lo, std::move(stage));
  cpu.start_epoch(identity_order(cpu.size()));
  hybrid.start_epoch(identity_order(hybrid.size()));
  long long rows = 0, identical = 0, bad = 0, bad_agree = 0;
  while (const Batch* want = cpu.next()) {
    const Batch* got = hybrid.next();
    VGGTL_CHECK(got && got->device_images.defined(), "the hybrid stage gave no device batch");
    Tensor h = Tensor::empty(got->device_images.shape(), got->device_images.dtype());
    copy(h, got->device_images);
    synchronize(device);
    const size_t row = h.nbytes() / static_cast<size_t>(want->size());
    for (int64_t r = 0; r < want->size(); ++r, ++rows)
      identical += std::memcmp(static_cast<const char*>(want->images.raw()) + row * r,
                               static_cast<const char*>(h.raw()) + row * r, row) == 0 &&
                   want->ok[r] == got->ok[r];
    bad += static_cast<long long>(want->bad.size());
    for (size_t i = 0; i < want->bad.size() && i < got->bad.size(); ++i)
      bad_agree += want->bad[i].path == got->bad[i].path && want->bad[i].reason == got->bad[i].reason;
  }
  const GpuRowCounts c = counts->counts();
  std::printf("check %s: %lld rows, %lld identical to the cpu stage's (%lld through the chain), %lld bad files, "
              "%lld with the same reason%s\n",
              hybrid.decoder().c_str(), rows, identical, static_cast<long long>(c.gpu), bad, bad_agree,
              identical == rows && bad_agree == bad ? "" : "  << MISMATCH");
}

int dump(const Args& a, const std::vector<DataItem>& items) {
  ImageLoader loader(items, loader_options(a, 0));
  std::ofstream bin(a.dump, std::ios::binary), txt(a.dump + ".txt");
  VGGTL_CHECK(bin && txt, "cannot write ", a.dump);
  loader.start_epoch(identity_order(loader.size()));
  int64_t bad = 0;
  while (const Batch* b = loader.next()) {
    bin.write(static_cast<const char*>(b->images.raw()), static_cast<std::streamsize>(b->images.nbytes()));
    size_t k = 0;
    for (int64_t r = 0; r < b->size(); ++r) {
      std::string reason;
      if (!b->ok[r]) reason = b->bad[k++].reason, ++bad;
      txt << items[b->indices[r]].relpath << '\t' << int(b->ok[r]) << '\t' << reason << '\n';
    }
  }
  std::printf("dumped %zu images (%lld bad) at %dx%d %s to %s\n", items.size(), static_cast<long long>(bad),
              a.image_size, a.image_size, resize_filter_name(a.filter), a.dump.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::vector<char*> hargv;
  for (const std::string& s : args.harness) hargv.push_back(const_cast<char*>(s.c_str()));
  const bench::Options opt = bench::parse_options(static_cast<int>(hargv.size()), hargv.data());

  std::string folder = args.folder;
  const bool generated = folder.empty();
  if (generated) folder = generate_set(opt.quick ? 24 : 64);
  const std::vector<DataItem> items = collect(folder);
  if (items.empty()) {
    std::fprintf(stderr, "%s: no images under %s\n", argv[0], folder.c_str());
    return 2;
  }
  if (!args.dump.empty()) return dump(args, items);

  const int all = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> counts = {1, 2, all};
  counts.erase(std::unique(counts.begin(), counts.end()), counts.end());
  if (all < 2) counts = {1};
  check_rows(args, items, all, Device::cpu());
  if (opt.gpu && cuda_available()) check_rows(args, items, all, Device::cuda());

  const int passes = opt.quick ? 1 : 3;
  const std::string what = std::to_string(items.size()) + " images, " + std::to_string(args.image_size) + " " +
                           resize_filter_name(args.filter);
  const double n = static_cast<double>(items.size());
  auto rate = [&](const Timing& t, const char* work) {
    char note[160];
    std::snprintf(note, sizeof note, "%.0f img/s %s, cpu %.2f ms/img", n / t.seconds, work, t.cpu_ms);
    return std::string(note);
  };
  for (int workers : counts) {
    const std::string w = ", " + std::to_string(workers) + " worker(s)";
    LoaderOptions lo = loader_options(args, workers);
    ImageLoader cpu(items, lo);
    const Timing pipeline = run_epochs(cpu, passes, items.size(), Device::cpu());
    const Timing full = run_scans(cpu, passes, items.size());
    // The hybrid stage's scan() entropy-decodes the JPEGs the GPU chain takes and no more: the
    // CPU work that stays on the workers. Full decode / that is the most the hybrid path can
    // gain over the CPU decoder at the same core count, however fast the GPU is.
    auto twins = make_gpu_row_stage(lo, Device::cpu(), workers);
    const GpuRowStage* twin_stage = twins.get();
    ImageLoader hybrid_cpu(items, lo, std::move(twins));
    const Timing entropy = run_scans(hybrid_cpu, passes, items.size());
    const double bound = full.seconds / entropy.seconds, bound_cpu = full.cpu_ms / entropy.cpu_ms;
    if (opt.cpu) {
      bench::report("input pipeline, cpu stage" + w, Device::cpu(), pipeline.seconds * 1e3, 0, 0,
                    rate(pipeline, "decode+resize+preprocess") + " (" + what + ")");
      bench::report("full decode (cpu scan)" + w, Device::cpu(), full.seconds * 1e3, 0, 0, rate(full, "libjpeg-turbo"));
      char note[128];
      std::snprintf(note, sizeof note, "; CPU-side bound of the hybrid path: full/entropy = %.2fx wall, %.2fx cpu time",
                    bound, bound_cpu);
      bench::report("entropy decode only (hybrid scan)" + w, Device::cpu(), entropy.seconds * 1e3, 0, 0,
                    rate(entropy, "entropy") + note);
      const Timing chain = run_epochs(hybrid_cpu, passes, items.size(), Device::cpu());
      const GpuRowCounts c = twin_stage->counts();
      std::snprintf(note, sizeof note, " (%lld of %lld rows through the chain)", static_cast<long long>(c.gpu),
                    static_cast<long long>(c.gpu + c.cpu));
      bench::report("hybrid pipeline on the cpu twins" + w, Device::cpu(), chain.seconds * 1e3, 0, 0,
                    rate(chain, "decode+resize+preprocess") + note);
    }
    if (!bench::skip_gpu(opt, "hybrid pipeline on the GPU" + w)) {
      lo.device = Device::cuda();
      auto stage = make_gpu_row_stage(lo, lo.device, workers);
      const GpuRowStage* gpu_stage = stage.get();
      ImageLoader hybrid(items, lo, std::move(stage));
      const Timing gpu = run_epochs(hybrid, passes, items.size(), lo.device);
      const GpuRowCounts c = gpu_stage->counts();
      char note[256];
      std::snprintf(note, sizeof note,
                    "; %.2fx the cpu stage, %.2fx full cpu decode (target 3x; CPU-side bound %.2fx wall, %.2fx cpu "
                    "time); %lld of %lld rows on the GPU",
                    pipeline.seconds / gpu.seconds, full.seconds / gpu.seconds, bound, bound_cpu,
                    static_cast<long long>(c.gpu),
                    static_cast<long long>(c.gpu + c.cpu));
      bench::report("hybrid pipeline on the GPU" + w, lo.device, gpu.seconds * 1e3, 0, 0,
                    rate(gpu, "decode+resize+preprocess") + note);
    }
  }
  if (generated) fs::remove_all(folder);
  return 0;
}
