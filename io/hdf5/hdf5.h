// Small RAII wrappers over the HDF5 C API: every handle closes itself, every call is checked,
// and a failure becomes one line naming the file and the object (HDF5's own error printing is
// turned off). Objects are addressed by '/'-separated paths. Tested by tests/io/test_hdf5.cpp.
#pragma once

#include <hdf5.h>

#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace vggtl::h5 {

// Taken by every public io entry point that touches HDF5: serialises calls when the library
// was built without thread safety and silences HDF5's error printing for the calling thread.
std::unique_lock<std::recursive_mutex> lock();

// Owns one hid_t and closes it with the matching H5*close.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle() { reset(); }
  Handle(Handle&& o) noexcept : id_(o.id_), closer_(o.closer_) { o.id_ = H5I_INVALID_HID; }
  Handle& operator=(Handle&& o) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  hid_t id() const { return id_; }
  bool valid() const { return id_ >= 0; }
  // Closes now and reports whether HDF5 accepted the close (errors while flushing surface here).
  bool close();
  // Like close(), but keeps the handle when HDF5 refuses (so the destructor tries again).
  bool try_close();
  void reset() { close(); }
  // Forgets the identifier without closing it (see File::close).
  void release() { id_ = H5I_INVALID_HID; }

 private:
  hid_t id_ = H5I_INVALID_HID;
  Closer closer_ = nullptr;
};

// Which file and object an operation is about, for error messages. `writing` selects the
// exception: InputError for a file being read (the user's file is bad), Error for a write.
struct Where {
  std::string file;
  std::string object;  // "/model_weights/FC_2", or empty for the file itself
  bool writing = false;
};

// Throws one line: "<file>: <object>: <what> (HDF5: <innermost library message>)".
[[noreturn]] void fail(const Where& where, const std::string& what);
// Checks an HDF5 return value (negative = failure) and returns it.
hid_t check(hid_t ret, const Where& where, const std::string& what);

// "float32", "float64", "int32", "uint8", "string", "compound", ... for messages.
std::string describe_type(hid_t type);

enum class Strings { Fixed, Variable };

// File format bounds: 1.8 is readable by every h5py; virtual datasets need 1.10.
enum class Format { V18, V110 };

// One source of a virtual dataset: rows [0, rows) of `dataset` in `file` (a path relative to the
// virtual dataset's own file, or absolute) appear as rows [begin_row, begin_row + rows).
struct VirtualSource {
  std::string file, dataset;
  int64_t begin_row = 0, rows = 0;
};

// A group or a dataset: something that carries attributes.
class Object {
 public:
  hid_t id() const { return handle_.id(); }
  const Where& where() const { return where_; }
  const std::string& path() const { return where_.object; }
  // A dataset being written is flushed first; one that cannot be is dropped, not closed
  // (see File::close: libhdf5 mishandles a close that fails to flush).
  bool close();
  ~Object();
  Object(Object&&) = default;
  Object& operator=(Object&&) = default;

  bool has_attr(const std::string& name) const;
  std::vector<std::string> attr_names() const;
  // Fixed- or variable-length strings, scalar or 1-D. An attribute with no elements reads as an
  // empty list whatever its type (Keras writes an empty weight list as a float64 array).
  std::vector<std::string> read_strings_attr(const std::string& name) const;
  std::string read_string_attr(const std::string& name) const;  // exactly one string
  int64_t read_int_attr(const std::string& name) const;         // any integer type, one value
  uint64_t read_uint_attr(const std::string& name) const;
  double read_double_attr(const std::string& name) const;       // any float or integer type
  std::vector<int64_t> read_ints_attr(const std::string& name) const;

  // Scalar fixed-length (NUL-padded) string, as Keras 2.2 wrote its attributes (h5py reads
  // bytes). Fixed-length strings stay inside checksummed object headers; variable-length
  // ones live in HDF5's global heap, which has no checksum and which damaged files exploit.
  void write_string_attr(const std::string& name, const std::string& value);
  // 1-D; Fixed is what h5py writes for a NumPy bytes array (Keras's layer_names).
  void write_strings_attr(const std::string& name, const std::vector<std::string>& values,
                          Strings kind);
  void write_int_attr(const std::string& name, int64_t value);
  void write_uint_attr(const std::string& name, uint64_t value);
  void write_double_attr(const std::string& name, double value);
  void write_ints_attr(const std::string& name, const std::vector<int64_t>& values);

 protected:
  Object() = default;
  Object(Handle h, Where w) : handle_(std::move(h)), where_(std::move(w)) {}
  Handle handle_;
  Where where_;
};

class Dataset : public Object {
 public:
  Dataset() = default;
  Dataset(Handle h, Where w) : Object(std::move(h), std::move(w)) {}

  std::vector<int64_t> dims() const;
  // InputError unless the shape fits the bytes the file holds for it (contiguous data must
  // match exactly; chunked data is only bounded), so that a damaged header never makes the
  // reader allocate an absurd buffer. Returns the element count.
  int64_t checked_numel() const;
  H5T_class_t type_class() const;
  size_t type_size() const;
  std::string type_name() const;
  // A virtual dataset (HDF5 VDS) reads its rows from other files; HDF5 gives fill values for a
  // source it cannot open, so readers check virtual_sources() first.
  bool is_virtual() const;
  std::vector<VirtualSource> virtual_sources() const;

  // The whole dataset, converted by HDF5 to `mem_type` (e.g. H5T_NATIVE_FLOAT).
  void read(hid_t mem_type, void* out) const;
  // Rows [begin, begin + count) of dimension 0.
  void read_rows(int64_t begin, int64_t count, hid_t mem_type, void* out) const;
  // 1-D fixed- or variable-length strings.
  std::vector<std::string> read_strings() const;

  void write(hid_t mem_type, const void* data);
  // Writes rows [begin, begin + count), growing dimension 0 first when the rows lie beyond it.
  void write_rows(int64_t begin, int64_t count, hid_t mem_type, const void* data);
  void write_string_rows(int64_t begin, const std::vector<std::string>& values);
};

class Group : public Object {
 public:
  Group() = default;
  Group(Handle h, Where w) : Object(std::move(h), std::move(w)) {}

  // True when every component of `rel` exists (never an error for a missing one).
  bool exists(const std::string& rel) const;
  bool is_group(const std::string& rel) const;
  bool is_dataset(const std::string& rel) const;
  std::vector<std::string> children() const;  // link names, in name order

  Group open_group(const std::string& rel) const;
  Dataset open_dataset(const std::string& rel) const;
  // Intermediate groups are created as needed (Keras weight names contain '/').
  Group create_group(const std::string& rel);
  // dims; max_dims empty = fixed size (contiguous), else chunked with `chunk` (-1 = unlimited).
  // `chunk_cache_bytes` > 0 sizes the dataset's chunk cache (so partial chunks stay in memory).
  Dataset create_dataset(const std::string& rel, hid_t file_type, const std::vector<int64_t>& dims,
                         const std::vector<int64_t>& max_dims = {},
                         const std::vector<int64_t>& chunk = {}, size_t chunk_cache_bytes = 0);
  Dataset create_string_dataset(const std::string& rel, int64_t chunk_rows);  // 1-D, vlen UTF-8
  // A virtual dataset of `dims` whose rows come from `sources` (each a whole source dataset of
  // shape (rows, dims[1:])); rows no source covers read as zeros.
  Dataset create_virtual_dataset(const std::string& rel, hid_t file_type, const std::vector<int64_t>& dims,
                                 const std::vector<VirtualSource>& sources);

 private:
  std::string child_path(const std::string& rel) const;
};

class File {
 public:
  File() = default;
  ~File();  // a file being written that cannot be flushed is dropped, not closed (File::close)
  File(File&&) = default;
  File& operator=(File&&) = default;
  // InputError naming the file when it is missing, not HDF5, truncated or otherwise damaged.
  static File open_read(const std::string& path);
  // Truncates. Format bounds 1.8 (readable by every h5py; allows attributes over 64 KiB), or
  // 1.10 for a file holding a virtual dataset.
  static File create(const std::string& path, Format format = Format::V18);
  // An existing file of ours, to add to (same bounds and checked close as create()).
  static File open_write(const std::string& path);
  // A read-only file whose bytes are in memory (HDF5's file-image API with the core driver; no
  // file is touched), e.g. the model.weights.h5 inside a .keras zip. `name` is for messages
  // ("model.keras: model.weights.h5"). InputError when the bytes are not a sound HDF5 file.
  static File open_image(const std::string& name, const std::vector<char>& bytes);
  // A new file held in memory only (core driver, no backing store), in the earliest format
  // (superblock 0, as h5py writes); image() returns its bytes.
  static File create_in_memory(const std::string& name);
  // The bytes of an in-memory file, after flushing it (objects may still be open).
  std::vector<char> image() const;

  const std::string& path() const { return path_; }
  Group root() const;
  // Checked close: an error while flushing is thrown, so a written file is known complete.
  // Every group and dataset of the file must be closed first.
  void close();

 private:
  bool flush_or_drop();

  Handle handle_;
  std::string path_;
  bool writing_ = false;
};

// Memory types for strings (caller owns nothing: these are closed by the returned Handle).
Handle fixed_string_type(size_t size);
Handle variable_string_type();

}  // namespace vggtl::h5
