// Features files: an appendable, chunked writer over an AtomicFile, and a validating reader.
#include "io/hdf5/features_file.h"

#include <algorithm>
#include <filesystem>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/hdf5/hdf5.h"

namespace vggtl {

namespace {

constexpr int64_t kChunkBytes = 4 << 20;
constexpr int64_t kListChunkRows = 4096;  // labels and paths

std::vector<int64_t> row_dims(int64_t n, const Shape& s) { return {n, s[0], s[1], s[2]}; }

namespace fs = std::filesystem;

// A virtual dataset's source file name, resolved as HDF5 does with the prefix "${ORIGIN}".
std::string resolve_source(const std::string& vds_path, const std::string& file) {
  if (file == ".") return vds_path;
  if (fs::path(file).is_absolute()) return file;
  return (fs::path(vds_path).parent_path() / file).string();
}

// HDF5 reads a missing or short source as fill values: every source of a virtual `features`
// is checked here, once, so that the reader fails naming the file instead.
void check_virtual_sources(const std::string& path, const h5::Group& root, const h5::Dataset& features,
                           const Shape& row) {
  const std::string list = root.has_attr("list_sha256") ? root.read_string_attr("list_sha256") : "";
  for (const h5::VirtualSource& src : features.virtual_sources()) {
    const std::string file = resolve_source(path, src.file);
    if (file == path) throw InputError(path + ": virtual 'features' maps into its own file");
    std::error_code ec;
    if (!fs::exists(file, ec))
      throw InputError(path + ": shard " + file + " is missing (the features file reads rows " +
                       std::to_string(src.begin_row) + ".." + std::to_string(src.begin_row + src.rows - 1) +
                       " from it)");
    h5::File f = h5::File::open_read(file);
    h5::Group sroot = f.root();
    if (!sroot.is_dataset(src.dataset))
      throw InputError(path + ": shard " + file + " has no dataset '" + src.dataset + "'");
    const std::vector<int64_t> d = sroot.open_dataset(src.dataset).dims();
    if (d != std::vector<int64_t>{src.rows, row[0], row[1], row[2]})
      throw InputError(path + ": shard " + file + " holds " + Shape(d).str() + " where the features file expects " +
                       Shape(row_dims(src.rows, row)).str() + " (stale or replaced; extract it again)");
    if (!list.empty() && (!sroot.has_attr("list_sha256") || sroot.read_string_attr("list_sha256") != list))
      throw InputError(path + ": shard " + file + " was extracted from another listing of the data (stale; " +
                       "extract it again)");
  }
}

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

void FeaturesWriter::set_attribute(const std::string& name, const std::string& value) {
  Impl& im = *impl_;
  VGGTL_CHECK(!im.broken && !im.atomic.committed(), "features file: attribute after a failure or commit");
  VGGTL_CHECK(name != "class_names", "features file: attribute name 'class_names' is reserved");
  auto guard = h5::lock();
  im.file.root().write_string_attr(name, value);
  im.header.attributes[name] = value;
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
    try {
      h5::fail(h5::Where{temp, "", true}, "cannot write the features");
    } catch (...) {
      abandon();
      throw;
    }
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
  // FeaturesWriter writes no empty side; the code that takes a header's shape checks it as ours.
  if (d[1] < 1 || d[2] < 1 || d[3] < 1)
    throw InputError(path + ": 'features' rows are (" + std::to_string(d[1]) + ", " + std::to_string(d[2]) + ", " +
                     std::to_string(d[3]) + "), with an empty side");
  im.rows = d[0];
  im.header.feature_shape = Shape{d[1], d[2], d[3]};
  if (im.features.is_virtual()) check_virtual_sources(path, root, im.features, im.header.feature_shape);

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

// ---- virtual (sharded) files ----

void write_virtual_features(const std::string& path, const FeaturesHeader& header,
                            const std::vector<std::string>& sources) {
  const Shape& s = header.feature_shape;
  VGGTL_CHECK(s.ndim() == 3 && s.numel() > 0, "features file: feature shape must be (h, w, c), got ", s.str());
  std::vector<int32_t> labels;
  std::vector<std::string> paths;
  std::vector<h5::VirtualSource> mapping;
  const auto list = header.attributes.find("list_sha256");
  for (const std::string& name : sources) {
    const std::string file = resolve_source(path, name);
    FeaturesReader r(file);
    if (r.header().feature_shape != s)
      throw InputError(file + ": features of shape " + r.header().feature_shape.str() + ", expected " + s.str());
    if (r.header().class_names != header.class_names)
      throw InputError(file + ": other class names than the rest of the features");
    if (list != header.attributes.end()) {
      const auto it = r.header().attributes.find("list_sha256");
      if (it == r.header().attributes.end() || it->second != list->second)
        throw InputError(file + ": extracted from another listing of the data (stale; extract it again)");
    }
    mapping.push_back(h5::VirtualSource{name, "features", static_cast<int64_t>(labels.size()), r.rows()});
    labels.insert(labels.end(), r.labels().begin(), r.labels().end());
    paths.insert(paths.end(), r.paths().begin(), r.paths().end());
  }
  const int64_t n = static_cast<int64_t>(labels.size());
  write_atomically(path, [&](const std::string& temp) {
    auto guard = h5::lock();
    h5::File file = h5::File::create(temp, h5::Format::V110);
    {
      h5::Group root = file.root();
      root.write_strings_attr("class_names", header.class_names, h5::Strings::Fixed);
      for (const auto& [name, value] : header.attributes) {
        VGGTL_CHECK(name != "class_names", "features file: attribute name 'class_names' is reserved");
        root.write_string_attr(name, value);
      }
      h5::Dataset f = root.create_virtual_dataset("features", H5T_IEEE_F32LE, row_dims(n, s), mapping);
      h5::Dataset l = root.create_dataset("labels", H5T_STD_I32LE, {0}, {-1}, {kListChunkRows});
      h5::Dataset p = root.create_string_dataset("paths", kListChunkRows);
      if (n > 0) {
        l.write_rows(0, n, H5T_NATIVE_INT32, labels.data());
        p.write_string_rows(0, paths);
      }
      bool ok = f.close();
      ok = l.close() && ok;
      ok = p.close() && ok;
      if (!ok) h5::fail(h5::Where{temp, "", true}, "cannot write the features");
    }
    file.close();
  });
}

}  // namespace vggtl
