// Features files: an appendable, chunked writer over an AtomicFile, and a validating reader.
#include "io/features_file.h"

#include <algorithm>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/hdf5.h"

namespace vggtl {

namespace {

constexpr int64_t kChunkBytes = 4 << 20;
constexpr int64_t kListChunkRows = 4096;  // labels and paths

std::vector<int64_t> row_dims(int64_t n, const Shape& s) { return {n, s[0], s[1], s[2]}; }

Tensor host(const Tensor& t) {
  if (!t.is_cuda()) return t;
  Tensor h = to_device(t, Device::cpu());
  synchronize(t.device());
  return h;
}

}  // namespace

// Members are destroyed in reverse order: datasets, then the file, then the temporary.
struct FeaturesWriter::Impl {
  AtomicFile atomic;
  FeaturesHeader header;
  int64_t chunk_rows = 1;
  int64_t rows = 0;
  bool broken = false;  // an append failed: the file can only be abandoned
  h5::File file;
  h5::Dataset features, labels, paths;

  Impl(const std::string& path, const FeaturesHeader& h) : atomic(path), header(h) {}

  void close_all() noexcept {
    features.close();
    labels.close();
    paths.close();
    try {
      file.close();
    } catch (const std::exception&) {
    }
  }
};

FeaturesWriter::FeaturesWriter(const std::string& path, const FeaturesHeader& header,
                               int64_t chunk_rows) {
  const Shape& s = header.feature_shape;
  VGGTL_CHECK(s.ndim() == 3 && s.numel() > 0, "features file: feature shape must be (h, w, c), got ",
              s.str());
  auto guard = h5::lock();
  impl_ = std::make_unique<Impl>(path, header);
  Impl& im = *impl_;
  const int64_t row_bytes = s.numel() * 4;
  im.chunk_rows = chunk_rows > 0 ? chunk_rows : std::max<int64_t>(1, kChunkBytes / row_bytes);
  try {
    im.file = h5::File::create(im.atomic.temp_path());
    h5::Group root = im.file.root();
    root.write_strings_attr("class_names", header.class_names, h5::Strings::Fixed);
    for (const auto& [name, value] : header.attributes) {
      VGGTL_CHECK(name != "class_names", "features file: attribute name 'class_names' is reserved");
      root.write_string_attr(name, value);
    }
    // A cache holding two chunks keeps a partly filled chunk in memory between appends.
    const size_t cache = static_cast<size_t>(2 * im.chunk_rows * row_bytes + (1 << 20));
    im.features = root.create_dataset("features", H5T_IEEE_F32LE, row_dims(0, s),
                                      {-1, s[0], s[1], s[2]}, row_dims(im.chunk_rows, s), cache);
    im.labels = root.create_dataset("labels", H5T_STD_I32LE, {0}, {-1}, {kListChunkRows});
    im.paths = root.create_string_dataset("paths", kListChunkRows);
  } catch (...) {
    abandon();
    throw;
  }
}

FeaturesWriter::~FeaturesWriter() {
  if (impl_ && !impl_->atomic.committed()) abandon();
}

int64_t FeaturesWriter::rows() const { return impl_->rows; }
int64_t FeaturesWriter::chunk_rows() const { return impl_->chunk_rows; }

void FeaturesWriter::append(const Tensor& features, const std::vector<int32_t>& labels,
                            const std::vector<std::string>& paths) {
  Impl& im = *impl_;
  VGGTL_CHECK(!im.broken && !im.atomic.committed(), "features file: append after a failure or commit");
  const Shape& s = im.header.feature_shape;
  const int64_t n = features.ndim() == 4 ? features.dim(0) : -1;
  VGGTL_CHECK(n >= 0 && features.dtype() == DType::F32 && features.dim(1) == s[0] &&
                  features.dim(2) == s[1] && features.dim(3) == s[2],
              "features file: expected f32 (n, ", s[0], ", ", s[1], ", ", s[2], "), got ",
              features.str());
  VGGTL_CHECK(static_cast<int64_t>(labels.size()) == n && static_cast<int64_t>(paths.size()) == n,
              "features file: ", n, " rows but ", labels.size(), " labels and ", paths.size(),
              " paths");
  const int32_t classes = static_cast<int32_t>(im.header.class_names.size());
  for (int32_t l : labels)
    VGGTL_CHECK(l >= 0 && l < classes, "features file: label ", l, " outside [0, ", classes, ")");
  if (n == 0) return;
  Tensor h = host(features);
  auto guard = h5::lock();
  try {
    im.features.write_rows(im.rows, n, H5T_NATIVE_FLOAT, h.raw());
    im.labels.write_rows(im.rows, n, H5T_NATIVE_INT32, labels.data());
    im.paths.write_string_rows(im.rows, paths);
  } catch (...) {
    im.broken = true;
    throw;
  }
  im.rows += n;
}

void FeaturesWriter::commit() {
  Impl& im = *impl_;
  VGGTL_CHECK(!im.broken, "features file: commit after a failed append");
  auto guard = h5::lock();
  const std::string& temp = im.atomic.temp_path();
  bool ok = im.features.close();
  ok = im.labels.close() && ok;
  ok = im.paths.close() && ok;
  if (!ok) {
    abandon();
    throw Error(temp + ": cannot write the features (disk full?)");
  }
  try {
    im.file.close();
  } catch (...) {
    abandon();
    throw;
  }
  im.atomic.commit();
}

void FeaturesWriter::abandon() noexcept {
  if (!impl_) return;
  auto guard = h5::lock();
  impl_->close_all();
  impl_->atomic.abandon();
}

// ---- reader ----

struct FeaturesReader::Impl {
  std::string path;
  FeaturesHeader header;
  int64_t rows = 0;
  std::vector<int32_t> labels;
  std::vector<std::string> paths;
  h5::File file;
  h5::Dataset features;
};

FeaturesReader::FeaturesReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  Impl& im = *impl_;
  im.path = path;
  auto guard = h5::lock();
  im.file = h5::File::open_read(path);
  h5::Group root = im.file.root();
  for (const char* name : {"features", "labels", "paths"})
    if (!root.is_dataset(name))
      throw InputError(path + ": not a features file (no dataset '" + name + "')");
  if (!root.has_attr("class_names"))
    throw InputError(path + ": not a features file (no class_names attribute)");
  im.header.class_names = root.read_strings_attr("class_names");
  for (const std::string& name : root.attr_names()) {
    if (name == "class_names") continue;
    // Extra attributes are informational: only string ones are kept.
    try {
      im.header.attributes[name] = root.read_string_attr(name);
    } catch (const InputError&) {
    }
  }

  im.features = root.open_dataset("features");
  std::vector<int64_t> d = im.features.dims();
  if (d.size() != 4 || im.features.type_class() != H5T_FLOAT)
    throw InputError(path + ": 'features' must be float (N, h, w, c), found " +
                     im.features.type_name() + " with " + std::to_string(d.size()) +
                     " dimensions");
  im.features.checked_numel();
  im.rows = d[0];
  im.header.feature_shape = Shape{d[1], d[2], d[3]};

  h5::Dataset labels = root.open_dataset("labels");
  std::vector<int64_t> ld = labels.dims();
  if (ld.size() != 1 || ld[0] != im.rows || labels.type_class() != H5T_INTEGER)
    throw InputError(path + ": 'labels' must be " + std::to_string(im.rows) +
                     " integers, found " + labels.type_name() + " with " +
                     std::to_string(ld.empty() ? 1 : ld[0]) + " values");
  labels.checked_numel();
  im.labels.resize(static_cast<size_t>(im.rows));
  if (im.rows > 0) labels.read(H5T_NATIVE_INT32, im.labels.data());
  const int64_t classes = static_cast<int64_t>(im.header.class_names.size());
  for (size_t i = 0; i < im.labels.size(); ++i)
    if (im.labels[i] < 0 || im.labels[i] >= classes)
      throw InputError(path + ": label " + std::to_string(im.labels[i]) + " of row " +
                       std::to_string(i) + " is not a class index (" + std::to_string(classes) +
                       " classes)");

  im.paths = root.open_dataset("paths").read_strings();
  if (static_cast<int64_t>(im.paths.size()) != im.rows)
    throw InputError(path + ": " + std::to_string(im.paths.size()) + " paths for " +
                     std::to_string(im.rows) + " rows");
}

FeaturesReader::~FeaturesReader() {
  if (!impl_) return;
  auto guard = h5::lock();
  impl_.reset();
}

const std::string& FeaturesReader::path() const { return impl_->path; }
const FeaturesHeader& FeaturesReader::header() const { return impl_->header; }
int64_t FeaturesReader::rows() const { return impl_->rows; }
const std::vector<int32_t>& FeaturesReader::labels() const { return impl_->labels; }
const std::vector<std::string>& FeaturesReader::paths() const { return impl_->paths; }

void FeaturesReader::read(int64_t begin, int64_t count, Tensor& out) const {
  const Shape& s = impl_->header.feature_shape;
  VGGTL_CHECK(begin >= 0 && count >= 0 && begin + count <= impl_->rows, "features file: rows [",
              begin, ", ", begin + count, ") outside [0, ", impl_->rows, ")");
  VGGTL_CHECK(!out.is_cuda() && out.dtype() == DType::F32 &&
                  out.shape() == Shape(row_dims(count, s)),
              "features file: output must be a CPU f32 ", Shape(row_dims(count, s)).str(),
              ", got ", out.str());
  if (count == 0) return;
  auto guard = h5::lock();
  impl_->features.read_rows(begin, count, H5T_NATIVE_FLOAT, out.raw());
}

Tensor FeaturesReader::read(int64_t begin, int64_t count) const {
  Tensor out = Tensor::empty(Shape(row_dims(count, impl_->header.feature_shape)), DType::F32);
  read(begin, count, out);
  return out;
}

}  // namespace vggtl
