// GpuJpegBatch: headers in parallel, then entropy decoding in parallel into one staging buffer
// laid out as [coefficients | quantisation tables | IDCT plane list | colour image list], each
// section 256-byte aligned, so the device gets everything in one copy and two launches.
#include "io/gpu_jpeg.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "engine/context.h"
#include "engine/error.h"
#include "engine/log.h"
#include "engine/timer.h"

namespace vggtl {

namespace {

constexpr int64_t kAlign = 256;

int64_t align_up(int64_t v) { return (v + kAlign - 1) / kAlign * kAlign; }

}  // namespace

JpegColorModel jpeg_color_model(JpegColorSpace cs) {
  switch (cs) {
    case JpegColorSpace::Gray: return JpegColorModel::Gray;
    case JpegColorSpace::RGB: return JpegColorModel::RGB;
    default: return JpegColorModel::YCbCr;
  }
}

void describe_jpeg(const JpegLayout& l, int64_t coef_base, int first_plane, JpegIdctPlane* planes,
                   uint16_t* quant, JpegColorImage* image, int64_t* plane_bytes, int64_t* rgb_bytes) {
  JpegColorImage im;
  im.width = l.width;
  im.height = l.height;
  im.model = jpeg_color_model(l.color_space);
  im.num_planes = l.num_components;
  for (int c = 0; c < l.num_components; ++c) {
    const JpegComponentLayout& k = l.comp[c];
    JpegIdctPlane p;
    p.coef_offset = coef_base + k.coef_offset;
    p.out_offset = *plane_bytes;
    p.width_in_blocks = k.width_in_blocks;
    p.height_in_blocks = k.height_in_blocks;
    p.quant_offset = (first_plane + c) * 64;
    std::memcpy(quant + p.quant_offset, k.quant, sizeof(k.quant));
    *plane_bytes += align_up(k.num_blocks() * 64);
    JpegColorPlane& cp = im.plane[c];
    cp.offset = p.out_offset;
    cp.stride = k.width_in_blocks * 8;
    cp.width = k.downsampled_width;
    cp.height = k.downsampled_height;
    VGGTL_CHECK(jpeg_upsample_method(l, c, &cp.method, &cp.h_expand, &cp.v_expand),
                "describe_jpeg: no upsampling method for a supported file");
    planes[first_plane + c] = p;
  }
  im.out_offset = *rgb_bytes;
  *rgb_bytes += align_up(int64_t{l.width} * l.height * 3);
  *image = im;
}

struct GpuJpegBatch::Staging {
  Tensor host;                // pinned when the batch runs on a GPU
  void* uploaded = nullptr;   // CUDA event: the last upload from `host` has finished
  bool pending = false;
};

GpuJpegBatch::GpuJpegBatch(Device device, DecodePool* pool) : device_(device), pool_(pool) {
  VGGTL_CHECK(pool_ != nullptr, "GpuJpegBatch needs a DecodePool");
  VGGTL_CHECK(!device.is_cuda() || cuda_available(), "GpuJpegBatch on ", device.str(),
              " without a usable GPU: ", cuda_runtime_info().unusable_reason);
  for (int i = 0; i < 2; ++i) {
    auto* s = new Staging;
#if VGGTL_HAVE_CUDA
    if (device_.is_cuda()) s->uploaded = gpu_jpeg_detail::event_create();
#endif
    staging_.push_back(s);
  }
}

GpuJpegBatch::~GpuJpegBatch() {
  for (Staging* s : staging_) {
#if VGGTL_HAVE_CUDA
    if (s->uploaded) {
      // The pinned block goes back to the allocator: its upload must be over first.
      if (s->pending) {
        try {
          gpu_jpeg_detail::event_wait(s->uploaded);
        } catch (const Error& e) {  // a failed device has nothing left to read the buffer
          log_warning(std::string("JPEG batch teardown: ") + e.what());
        }
      }
      gpu_jpeg_detail::event_destroy(s->uploaded);
    }
#endif
    delete s;
  }
}

GpuJpegBatch::Staging& GpuJpegBatch::next_staging() {
  Staging& s = *staging_[next_slot_];
  next_slot_ = (next_slot_ + 1) % staging_.size();
#if VGGTL_HAVE_CUDA
  if (s.pending) {
    gpu_jpeg_detail::event_wait(s.uploaded);
    s.pending = false;
  }
#endif
  return s;
}

Tensor GpuJpegBatch::image(size_t i) const {
  VGGTL_CHECK(i < items_.size() && items_[i].decoded, "GpuJpegBatch::image: item ", i,
              " was not decoded here");
  const GpuJpegItem& it = items_[i];
  return rgb_.view(it.rgb_offset, Shape{it.height, it.width, 3});
}

std::vector<size_t> GpuJpegBatch::fallbacks() const {
  std::vector<size_t> out;
  for (size_t i = 0; i < items_.size(); ++i)
    if (!items_[i].decoded) out.push_back(i);
  return out;
}

void GpuJpegBatch::decode(const std::vector<JpegInput>& inputs, Stream stream) {
  const int64_t n = static_cast<int64_t>(inputs.size());
  items_.assign(inputs.size(), GpuJpegItem{});
  layouts_.assign(inputs.size(), JpegLayout{});
  rgb_ = Tensor();
  times_ = GpuJpegTimes{};
  if (device_.is_cuda() && !stream) stream = main_stream(device_);

  // 1. Headers: what each file is, whether the GPU stages cover it, how many coefficients.
  Stopwatch clock;
  std::vector<uint8_t> ok(inputs.size(), 0);  // bytes, not vector<bool>: written concurrently
  pool_->parallel_for(n, [&](int64_t i) {
    std::string why;
    if (!read_jpeg_layout(inputs[i].data, inputs[i].size, &layouts_[i], &why)) {
      items_[i].reason = why;
    } else if (!supported_on_gpu(layouts_[i], &why)) {
      items_[i].reason = "not for the GPU decoder: " + why;
    } else {
      ok[i] = 1;
    }
  });
  times_.header_ms = clock.seconds() * 1e3;

  std::vector<int64_t> coef_base(inputs.size(), 0);
  int64_t total_coefs = 0, max_planes = 0, max_images = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!ok[i]) continue;
    coef_base[i] = total_coefs;
    total_coefs += layouts_[i].num_coefficients;
    max_planes += layouts_[i].num_components;
    ++max_images;
  }
  const int64_t quant_at = align_up(total_coefs * 2);
  const int64_t planes_at = quant_at + align_up(max_planes * 64 * 2);
  const int64_t images_at = planes_at + align_up(max_planes * int64_t{sizeof(JpegIdctPlane)});
  const int64_t staging_bytes = images_at + align_up(max_images * int64_t{sizeof(JpegColorImage)});

  // 2. Entropy decoding straight into the staging buffer.
  clock.reset();
  Staging& st = next_staging();
  if (!st.host.defined() || static_cast<int64_t>(st.host.nbytes()) < staging_bytes) {
    const int64_t bytes = std::max<int64_t>(staging_bytes + staging_bytes / 4, kAlign);
    st.host = device_.is_cuda() ? Tensor::empty_pinned(Shape{bytes}, DType::U8)
                                : Tensor::empty(Shape{bytes}, DType::U8);
  }
  uint8_t* base = st.host.data<uint8_t>();
  int16_t* coefs = reinterpret_cast<int16_t*>(base);
  pool_->parallel_for(n, [&](int64_t i) {
    if (!ok[i]) return;
    std::string why;
    if (!read_jpeg_coefficients(inputs[i].data, inputs[i].size, &layouts_[i], coefs + coef_base[i],
                                layouts_[i].num_coefficients, &why)) {
      items_[i].reason = why;
      ok[i] = 0;
    }
  });
  times_.entropy_ms = clock.seconds() * 1e3;

  // 3. Descriptors of what decoded: planes of one image are consecutive in the plane list.
  clock.reset();
  uint16_t* quant = reinterpret_cast<uint16_t*>(base + quant_at);
  auto* planes = reinterpret_cast<JpegIdctPlane*>(base + planes_at);
  auto* images = reinterpret_cast<JpegColorImage*>(base + images_at);
  std::vector<int> first_plane;
  int num_planes = 0, num_images = 0;
  int64_t plane_bytes = 0, rgb_bytes = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (!ok[i]) continue;
    const JpegLayout& l = layouts_[i];
    first_plane.push_back(num_planes);
    describe_jpeg(l, coef_base[i], num_planes, planes, quant, &images[num_images], &plane_bytes, &rgb_bytes);
    num_planes += l.num_components;
    items_[i].decoded = true;
    items_[i].width = l.width;
    items_[i].height = l.height;
    items_[i].rgb_offset = images[num_images].out_offset;
    ++num_images;
  }
  if (num_images == 0) {
    times_.submit_ms = clock.seconds() * 1e3;
    return;
  }
  [[maybe_unused]] const int64_t idct_ctas = jpeg_idct_plan(planes, num_planes);
  [[maybe_unused]] const int64_t color_ctas = jpeg_color_plan(images, num_images);

  // 4. IDCT and colour: one launch each on the GPU; per image on the pool for the CPU twins.
  if (device_.is_cuda()) {
#if VGGTL_HAVE_CUDA
    Tensor dev = Tensor::empty(Shape{staging_bytes}, DType::U8, device_, stream);
    copy(dev, st.host.view(0, Shape{staging_bytes}), stream);
    gpu_jpeg_detail::event_record(st.uploaded, stream);
    st.pending = true;
    Tensor dev_planes = Tensor::empty(Shape{plane_bytes}, DType::U8, device_, stream);
    rgb_ = Tensor::empty(Shape{rgb_bytes}, DType::U8, device_, stream);
    uint8_t* d = dev.data<uint8_t>();
    jpeg_idct_cuda(dev_planes.data<uint8_t>(), reinterpret_cast<const int16_t*>(d),
                   reinterpret_cast<const uint16_t*>(d + quant_at),
                   reinterpret_cast<const JpegIdctPlane*>(d + planes_at), num_planes, idct_ctas,
                   stream);
    jpeg_color_cuda(rgb_.data<uint8_t>(), dev_planes.data<uint8_t>(),
                    reinterpret_cast<const JpegColorImage*>(d + images_at), num_images, color_ctas,
                    stream);
    // dev and dev_planes go back to the stream-ordered cache: later work on `stream` runs after
    // these kernels, so reusing the memory there is safe.
#endif
  } else {
    Tensor host_planes = Tensor::empty(Shape{plane_bytes}, DType::U8);
    rgb_ = Tensor::empty(Shape{rgb_bytes}, DType::U8);
    uint8_t* out_planes = host_planes.data<uint8_t>();
    uint8_t* out_rgb = rgb_.data<uint8_t>();
    pool_->parallel_for(num_images, [&](int64_t j) {
      jpeg_idct_cpu(out_planes, coefs, quant, planes + first_plane[j], images[j].num_planes);
      jpeg_color_cpu(out_rgb, out_planes, images + j, 1);
    });
  }
  times_.submit_ms = clock.seconds() * 1e3;
}

}  // namespace vggtl
