// HDF5 wrappers: checked calls, one-line errors carrying the innermost HDF5 message, string
// attributes in both storage kinds. Callers hold h5::lock() around any use.
#include "io/hdf5/hdf5.h"

#include <algorithm>
#include <filesystem>
#include <system_error>

#include "engine/error.h"
#include "io/atomic_file.h"

namespace vggtl::h5 {

namespace {

// The most specific message on the calling thread's HDF5 error stack, then clears the stack.
std::string innermost_hdf5_message() {
  hid_t stack = H5Eget_current_stack();
  if (stack < 0) return "";
  std::string msg;
  H5Ewalk2(
      stack, H5E_WALK_UPWARD,
      [](unsigned n, const H5E_error2_t* e, void* data) -> herr_t {
        auto* out = static_cast<std::string*>(data);
        if (n == 0 && e->desc && *e->desc) *out = e->desc;
        if (n == 0 && out->empty()) {
          char buf[256] = {0};
          if (H5Eget_msg(e->min_num, nullptr, buf, sizeof(buf)) > 0) *out = buf;
        }
        return 0;
      },
      &msg);
  H5Eclose_stack(stack);
  return msg;
}

Where child(const Where& w, const std::string& object) { return Where{w.file, object, w.writing}; }

Handle make_space(const std::vector<int64_t>& dims, const std::vector<int64_t>& max_dims,
                  const Where& where) {
  if (dims.empty()) return Handle(check(H5Screate(H5S_SCALAR), where, "dataspace"), H5Sclose);
  std::vector<hsize_t> d(dims.begin(), dims.end()), m;
  for (int64_t x : max_dims) m.push_back(x < 0 ? H5S_UNLIMITED : static_cast<hsize_t>(x));
  hid_t s = H5Screate_simple(static_cast<int>(d.size()), d.data(), m.empty() ? nullptr : m.data());
  return Handle(check(s, where, "dataspace"), H5Sclose);
}

// Reads strings of either storage kind from an attribute or a dataset.
template <typename ReadFn>
std::vector<std::string> read_strings_from(hid_t type, hid_t space, const Where& where,
                                           ReadFn read) {
  hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n < 0) fail(where, "cannot read its size");
  if (n == 0) return {};
  if (H5Tget_class(type) != H5T_STRING)
    fail(where, "expected strings, found " + describe_type(type));
  std::vector<std::string> out;
  out.reserve(static_cast<size_t>(n));
  H5T_cset_t cset = H5Tget_cset(type);
  htri_t variable = H5Tis_variable_str(type);
  if (variable < 0) fail(where, "cannot read its string type");
  if (variable) {
    Handle mem = variable_string_type();
    check(H5Tset_cset(mem.id(), cset), where, "string type");
    std::vector<char*> ptrs(static_cast<size_t>(n), nullptr);
    if (read(mem.id(), ptrs.data()) < 0) fail(where, "cannot read strings");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem.id(), space, H5P_DEFAULT, ptrs.data());
    return out;
  }
  size_t size = H5Tget_size(type);
  if (size == 0) fail(where, "cannot read its string size");
  H5T_str_t pad = H5Tget_strpad(type);
  Handle mem = fixed_string_type(size);
  check(H5Tset_strpad(mem.id(), pad), where, "string type");
  check(H5Tset_cset(mem.id(), cset), where, "string type");
  std::vector<char> buf(size * static_cast<size_t>(n));
  if (read(mem.id(), buf.data()) < 0) fail(where, "cannot read strings");
  for (hssize_t i = 0; i < n; ++i) {
    std::string s(buf.data() + static_cast<size_t>(i) * size, size);
    size_t nul = s.find('\0');
    if (nul != std::string::npos) s.resize(nul);
    if (pad == H5T_STR_SPACEPAD) s.erase(s.find_last_not_of(' ') + 1);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

std::unique_lock<std::recursive_mutex> lock() {
  static std::recursive_mutex mutex;
  std::unique_lock<std::recursive_mutex> guard(mutex);
  // The error stack is per thread in thread-safe builds: silence it once on each thread.
  thread_local bool quiet = false;
  if (!quiet) {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    quiet = true;
  }
  return guard;
}

Handle& Handle::operator=(Handle&& o) noexcept {
  if (this != &o) {
    reset();
    id_ = o.id_;
    closer_ = o.closer_;
    o.id_ = H5I_INVALID_HID;
  }
  return *this;
}

bool Handle::try_close() {
  if (id_ < 0) return true;
  if (closer_(id_) < 0) return false;
  id_ = H5I_INVALID_HID;
  return true;
}

bool Handle::close() {
  if (id_ < 0) return true;
  herr_t r = closer_(id_);
  id_ = H5I_INVALID_HID;
  return r >= 0;
}

void fail(const Where& where, const std::string& what) {
  std::string hdf5 = innermost_hdf5_message();
  // A failed system call: libhdf5's message holds "errno = N, error message = '...'" among a
  // dozen other fields; the system's message is the cause a user can act on.
  const std::string marker = "error message = '";
  const size_t at = hdf5.find(marker);
  if (at != std::string::npos) {
    const size_t b = at + marker.size(), e = hdf5.find('\'', b);
    hdf5 = hdf5.substr(b, e == std::string::npos ? std::string::npos : e - b);
  } else {
    std::replace(hdf5.begin(), hdf5.end(), '\n', ' ');
    hdf5 = hdf5.empty() ? hdf5 : "HDF5: " + hdf5;
  }
  std::string msg = where.writing ? atomic_target_name(where.file) : where.file;
  if (!where.object.empty() && where.object != "/") msg += ": " + where.object;
  msg += ": " + what;
  if (!hdf5.empty()) msg += " (" + hdf5 + ")";
  if (where.writing) throw Error(msg);
  throw InputError(msg);
}

hid_t check(hid_t ret, const Where& where, const std::string& what) {
  if (ret < 0) fail(where, what);
  return ret;
}

std::string describe_type(hid_t type) {
  size_t size = H5Tget_size(type);
  switch (H5Tget_class(type)) {
    case H5T_FLOAT: return "float" + std::to_string(8 * size);
    case H5T_INTEGER:
      return std::string(H5Tget_sign(type) == H5T_SGN_NONE ? "uint" : "int") +
             std::to_string(8 * size);
    case H5T_STRING: return "string";
    case H5T_COMPOUND: return "compound";
    case H5T_ENUM: return "enum (bool?)";
    case H5T_ARRAY: return "array";
    case H5T_VLEN: return "variable-length sequence";
    case H5T_OPAQUE: return "opaque";
    case H5T_REFERENCE: return "reference";
    case H5T_BITFIELD: return "bitfield";
    default: return "unknown type";
  }
}

Handle fixed_string_type(size_t size) {
  hid_t t = H5Tcopy(H5T_C_S1);
  Handle h(t, H5Tclose);
  if (t < 0 || H5Tset_size(t, std::max<size_t>(size, 1)) < 0 ||
      H5Tset_strpad(t, H5T_STR_NULLPAD) < 0)
    VGGTL_FAIL("HDF5: cannot make a string type of ", size, " bytes");
  return h;
}

Handle variable_string_type() {
  hid_t t = H5Tcopy(H5T_C_S1);
  Handle h(t, H5Tclose);
  if (t < 0 || H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0)
    VGGTL_FAIL("HDF5: cannot make a variable-length string type");
  return h;
}

// ---- attributes ----

bool Object::has_attr(const std::string& name) const {
  return check(H5Aexists(id(), name.c_str()), where_, "cannot look up attribute " + name) > 0;
}

std::vector<std::string> Object::attr_names() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  check(H5Aiterate2(
            id(), H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const H5A_info_t*, void* data) -> herr_t {
              static_cast<std::vector<std::string>*>(data)->emplace_back(name);
              return 0;
            },
            &names),
        where_, "cannot list attributes");
  return names;
}

namespace {

struct OpenAttr {
  Handle attr, type, space;
  Where where;
  hssize_t count = 0;
};

OpenAttr open_attr(const Object& obj, const std::string& name) {
  OpenAttr a;
  a.where = obj.where();
  a.where.object = (obj.path().empty() ? "" : obj.path()) + " attribute '" + name + "'";
  if (!obj.has_attr(name)) fail(a.where, "missing");
  a.attr = Handle(check(H5Aopen(obj.id(), name.c_str(), H5P_DEFAULT), a.where, "cannot open"),
                  H5Aclose);
  a.type = Handle(check(H5Aget_type(a.attr.id()), a.where, "cannot read its type"), H5Tclose);
  a.space = Handle(check(H5Aget_space(a.attr.id()), a.where, "cannot read its space"), H5Sclose);
  a.count = H5Sget_simple_extent_npoints(a.space.id());
  if (a.count < 0) fail(a.where, "cannot read its size");
  return a;
}

void expect_one_number(const OpenAttr& a, bool allow_float) {
  H5T_class_t c = H5Tget_class(a.type.id());
  if (c != H5T_INTEGER && !(allow_float && c == H5T_FLOAT))
    fail(a.where, std::string("expected ") + (allow_float ? "a number" : "an integer") +
                      ", found " + describe_type(a.type.id()));
  if (a.count != 1) fail(a.where, "expected one value, found " + std::to_string(a.count));
}

}  // namespace

std::vector<std::string> Object::read_strings_attr(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  hid_t attr = a.attr.id();
  return read_strings_from(a.type.id(), a.space.id(), a.where,
                           [attr](hid_t mem, void* buf) { return H5Aread(attr, mem, buf); });
}

std::string Object::read_string_attr(const std::string& name) const {
  std::vector<std::string> v = read_strings_attr(name);
  if (v.size() != 1) {
    Where w = where_;
    w.object += " attribute '" + name + "'";
    fail(w, "expected one string, found " + std::to_string(v.size()));
  }
  return v[0];
}

int64_t Object::read_int_attr(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  expect_one_number(a, false);
  int64_t v = 0;
  check(H5Aread(a.attr.id(), H5T_NATIVE_INT64, &v), a.where, "cannot read");
  return v;
}

uint64_t Object::read_uint_attr(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  expect_one_number(a, false);
  uint64_t v = 0;
  check(H5Aread(a.attr.id(), H5T_NATIVE_UINT64, &v), a.where, "cannot read");
  return v;
}

double Object::read_double_attr(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  expect_one_number(a, true);
  double v = 0;
  check(H5Aread(a.attr.id(), H5T_NATIVE_DOUBLE, &v), a.where, "cannot read");
  return v;
}

std::vector<int64_t> Object::read_ints_attr(const std::string& name) const {
  OpenAttr a = open_attr(*this, name);
  std::vector<int64_t> v(static_cast<size_t>(a.count));
  if (v.empty()) return v;
  if (H5Tget_class(a.type.id()) != H5T_INTEGER)
    fail(a.where, "expected integers, found " + describe_type(a.type.id()));
  check(H5Aread(a.attr.id(), H5T_NATIVE_INT64, v.data()), a.where, "cannot read");
  return v;
}

namespace {

// Replaces any attribute of that name, so that rewriting a field works.
void write_attr(Object& obj, const std::string& name, hid_t file_type, hid_t mem_type,
                const std::vector<int64_t>& dims, const void* data) {
  Where w = obj.where();
  w.object += " attribute '" + name + "'";
  if (obj.has_attr(name)) check(H5Adelete(obj.id(), name.c_str()), w, "cannot replace");
  Handle space = make_space(dims, {}, w);
  // HDF5 rejects a null buffer even when there is nothing to write (an empty vector's data()).
  static const char kNothing[16] = {};
  if (!data) data = kNothing;
  Handle attr(check(H5Acreate2(obj.id(), name.c_str(), file_type, space.id(), H5P_DEFAULT,
                               H5P_DEFAULT),
                    w, "cannot create"),
              H5Aclose);
  check(H5Awrite(attr.id(), mem_type, data), w, "cannot write");
  if (!attr.close()) fail(w, "cannot close");
}

}  // namespace

void Object::write_string_attr(const std::string& name, const std::string& value) {
  Handle t = fixed_string_type(value.size());
  std::string padded = value;
  padded.resize(std::max<size_t>(value.size(), 1), '\0');
  write_attr(*this, name, t.id(), t.id(), {}, padded.data());
}

void Object::write_strings_attr(const std::string& name, const std::vector<std::string>& values,
                                Strings kind) {
  std::vector<int64_t> dims{static_cast<int64_t>(values.size())};
  if (kind == Strings::Variable) {
    Handle t = variable_string_type();
    std::vector<const char*> ptrs;
    for (const std::string& s : values) ptrs.push_back(s.c_str());
    write_attr(*this, name, t.id(), t.id(), dims, ptrs.data());
    return;
  }
  size_t size = 1;
  for (const std::string& s : values) size = std::max(size, s.size());
  std::vector<char> buf(size * std::max<size_t>(values.size(), 1), '\0');
  for (size_t i = 0; i < values.size(); ++i)
    std::copy(values[i].begin(), values[i].end(), buf.begin() + static_cast<ptrdiff_t>(i * size));
  Handle t = fixed_string_type(size);
  write_attr(*this, name, t.id(), t.id(), dims, buf.data());
}

void Object::write_int_attr(const std::string& name, int64_t value) {
  write_attr(*this, name, H5T_STD_I64LE, H5T_NATIVE_INT64, {}, &value);
}

void Object::write_uint_attr(const std::string& name, uint64_t value) {
  write_attr(*this, name, H5T_STD_U64LE, H5T_NATIVE_UINT64, {}, &value);
}

void Object::write_double_attr(const std::string& name, double value) {
  write_attr(*this, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, {}, &value);
}

void Object::write_ints_attr(const std::string& name, const std::vector<int64_t>& values) {
  write_attr(*this, name, H5T_STD_I64LE, H5T_NATIVE_INT64,
             {static_cast<int64_t>(values.size())}, values.data());
}

// ---- datasets ----

std::vector<int64_t> Dataset::dims() const {
  Handle space(check(H5Dget_space(id()), where_, "cannot read its shape"), H5Sclose);
  int rank = H5Sget_simple_extent_ndims(space.id());
  if (rank < 0) fail(where_, "cannot read its rank");
  std::vector<hsize_t> d(static_cast<size_t>(rank));
  if (rank > 0) check(H5Sget_simple_extent_dims(space.id(), d.data(), nullptr), where_, "shape");
  return std::vector<int64_t>(d.begin(), d.end());
}

int64_t Dataset::checked_numel() const {
  std::vector<int64_t> d = dims();
  // Dimensions stay below 2^40 and their product below 2^62 bytes: no overflow below.
  int64_t n = 1;
  for (int64_t x : d) {
    if (x > (int64_t{1} << 40) || (x > 0 && n > (int64_t{1} << 62) / x / 16))
      fail(where_, "damaged: impossible shape");
    n *= x;
  }
  if (n == 0) return 0;
  const int64_t need = n * static_cast<int64_t>(type_size());
  Handle dcpl(check(H5Dget_create_plist(id()), where_, "cannot read its layout"), H5Pclose);
  H5D_layout_t layout = H5Pget_layout(dcpl.id());
  // A virtual dataset stores no rows of its own: its sources bound it, checked by its reader.
  if (layout == H5D_VIRTUAL) return n;
  const int64_t stored = static_cast<int64_t>(H5Dget_storage_size(id()));
  if (layout == H5D_CONTIGUOUS || layout == H5D_COMPACT) {
    if (stored != need)
      fail(where_, "damaged: its shape needs " + std::to_string(need) + " bytes, the file holds " +
                       std::to_string(stored));
    return n;
  }
  hid_t file_id = H5Iget_file_id(id());
  hsize_t file_bytes = 0;
  if (file_id >= 0) {
    H5Fget_filesize(file_id, &file_bytes);
    H5Fclose(file_id);
  }
  // Compressed chunks may expand a lot, but not beyond this.
  const int64_t bound = std::max<int64_t>(int64_t{1} << 30, 1024 * static_cast<int64_t>(file_bytes));
  if (need > bound)
    fail(where_, "damaged: its shape needs " + std::to_string(need) +
                     " bytes, implausible for a file of " + std::to_string(file_bytes));
  return n;
}

H5T_class_t Dataset::type_class() const {
  Handle t(check(H5Dget_type(id()), where_, "cannot read its type"), H5Tclose);
  return H5Tget_class(t.id());
}

size_t Dataset::type_size() const {
  Handle t(check(H5Dget_type(id()), where_, "cannot read its type"), H5Tclose);
  return H5Tget_size(t.id());
}

std::string Dataset::type_name() const {
  Handle t(check(H5Dget_type(id()), where_, "cannot read its type"), H5Tclose);
  return describe_type(t.id());
}

void Dataset::read(hid_t mem_type, void* out) const {
  check(H5Dread(id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out), where_,
        "cannot read the data (truncated or damaged file?)");
}

namespace {

// File and memory dataspaces selecting rows [begin, begin + count) of a dataset of `dims`.
void select_rows(const std::vector<int64_t>& dims, int64_t begin, int64_t count, hid_t file_space,
                 Handle& mem_space, const Where& w) {
  std::vector<hsize_t> start(dims.size(), 0), n(dims.begin(), dims.end());
  start[0] = static_cast<hsize_t>(begin);
  n[0] = static_cast<hsize_t>(count);
  check(H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start.data(), nullptr, n.data(), nullptr),
        w, "cannot select rows");
  mem_space = Handle(check(H5Screate_simple(static_cast<int>(n.size()), n.data(), nullptr), w,
                           "dataspace"),
                     H5Sclose);
}

}  // namespace

void Dataset::read_rows(int64_t begin, int64_t count, hid_t mem_type, void* out) const {
  std::vector<int64_t> d = dims();
  if (d.empty() || begin < 0 || count < 0 || begin + count > d[0])
    fail(where_, "rows [" + std::to_string(begin) + ", " + std::to_string(begin + count) +
                     ") out of range");
  if (count == 0) return;
  Handle fspace(check(H5Dget_space(id()), where_, "dataspace"), H5Sclose);
  Handle mspace;
  select_rows(d, begin, count, fspace.id(), mspace, where_);
  check(H5Dread(id(), mem_type, mspace.id(), fspace.id(), H5P_DEFAULT, out), where_,
        "cannot read the data (truncated or damaged file?)");
}

std::vector<std::string> Dataset::read_strings() const {
  Handle t(check(H5Dget_type(id()), where_, "cannot read its type"), H5Tclose);
  Handle space(check(H5Dget_space(id()), where_, "cannot read its shape"), H5Sclose);
  hid_t ds = id();
  return read_strings_from(t.id(), space.id(), where_, [ds](hid_t mem, void* buf) {
    return H5Dread(ds, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  });
}

void Dataset::write(hid_t mem_type, const void* data) {
  check(H5Dwrite(id(), mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), where_,
        "cannot write the data");
}

void Dataset::write_rows(int64_t begin, int64_t count, hid_t mem_type, const void* data) {
  std::vector<int64_t> d = dims();
  VGGTL_CHECK(!d.empty() && begin >= 0 && count >= 0, "bad row range for ", where_.object);
  if (count == 0) return;
  if (begin + count > d[0]) {
    d[0] = begin + count;
    std::vector<hsize_t> nd(d.begin(), d.end());
    check(H5Dset_extent(id(), nd.data()), where_, "cannot grow the dataset");
  }
  Handle fspace(check(H5Dget_space(id()), where_, "dataspace"), H5Sclose);
  Handle mspace;
  select_rows(d, begin, count, fspace.id(), mspace, where_);
  check(H5Dwrite(id(), mem_type, mspace.id(), fspace.id(), H5P_DEFAULT, data), where_,
        "cannot write the data");
}

void Dataset::write_string_rows(int64_t begin, const std::vector<std::string>& values) {
  Handle t = variable_string_type();
  std::vector<const char*> ptrs;
  for (const std::string& s : values) ptrs.push_back(s.c_str());
  write_rows(begin, static_cast<int64_t>(values.size()), t.id(), ptrs.data());
}

// ---- groups ----

std::string Group::child_path(const std::string& rel) const {
  if (where_.object.empty() || where_.object == "/") return "/" + rel;
  return where_.object + "/" + rel;
}

bool Group::exists(const std::string& rel) const {
  if (rel.empty()) return false;
  // H5Lexists needs every intermediate link to exist, so walk the path one component at a time.
  size_t pos = 0;
  while (true) {
    size_t slash = rel.find('/', pos);
    std::string prefix = rel.substr(0, slash);
    if (!prefix.empty() && prefix.back() != '/') {
      htri_t e = H5Lexists(id(), prefix.c_str(), H5P_DEFAULT);
      if (e <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return false;
      }
    }
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  htri_t o = H5Oexists_by_name(id(), rel.c_str(), H5P_DEFAULT);
  if (o < 0) H5Eclear2(H5E_DEFAULT);
  return o > 0;
}

namespace {
H5I_type_t object_type(hid_t loc, const std::string& rel) {
  hid_t o = H5Oopen(loc, rel.c_str(), H5P_DEFAULT);
  if (o < 0) {
    H5Eclear2(H5E_DEFAULT);
    return H5I_BADID;
  }
  H5I_type_t t = H5Iget_type(o);
  H5Oclose(o);
  return t;
}
}  // namespace

bool Group::is_group(const std::string& rel) const {
  return exists(rel) && object_type(id(), rel) == H5I_GROUP;
}

bool Group::is_dataset(const std::string& rel) const {
  return exists(rel) && object_type(id(), rel) == H5I_DATASET;
}

std::vector<std::string> Group::children() const {
  std::vector<std::string> names;
  hsize_t idx = 0;
  // A generic lambda adapts to the link-info type of either HDF5 API generation.
  check(H5Literate(
            id(), H5_INDEX_NAME, H5_ITER_INC, &idx,
            [](hid_t, const char* name, const auto*, void* data) -> herr_t {
              static_cast<std::vector<std::string>*>(data)->emplace_back(name);
              return 0;
            },
            &names),
        where_, "cannot list the group");
  return names;
}

Group Group::open_group(const std::string& rel) const {
  Where w = child(where_, child_path(rel));
  if (!is_group(rel)) fail(w, "group not found");
  return Group(Handle(check(H5Gopen2(id(), rel.c_str(), H5P_DEFAULT), w, "cannot open group"),
                      H5Gclose),
               w);
}

Dataset Group::open_dataset(const std::string& rel) const {
  Where w = child(where_, child_path(rel));
  if (!is_dataset(rel)) fail(w, "dataset not found");
  // Relative source files of a virtual dataset are found next to its file, wherever the
  // reader's working folder is.
  Handle dapl(check(H5Pcreate(H5P_DATASET_ACCESS), w, "property list"), H5Pclose);
  check(H5Pset_virtual_prefix(dapl.id(), "${ORIGIN}"), w, "property list");
  return Dataset(Handle(check(H5Dopen2(id(), rel.c_str(), dapl.id()), w, "cannot open dataset"),
                        H5Dclose),
                 w);
}

namespace {
Handle intermediate_lcpl(const Where& w) {
  Handle lcpl(check(H5Pcreate(H5P_LINK_CREATE), w, "property list"), H5Pclose);
  check(H5Pset_create_intermediate_group(lcpl.id(), 1), w, "property list");
  return lcpl;
}
}  // namespace

Group Group::create_group(const std::string& rel) {
  if (is_group(rel)) return open_group(rel);
  Where w = child(where_, child_path(rel));
  Handle lcpl = intermediate_lcpl(w);
  return Group(Handle(check(H5Gcreate2(id(), rel.c_str(), lcpl.id(), H5P_DEFAULT, H5P_DEFAULT),
                            w, "cannot create group"),
                      H5Gclose),
               w);
}

Dataset Group::create_dataset(const std::string& rel, hid_t file_type,
                              const std::vector<int64_t>& dims,
                              const std::vector<int64_t>& max_dims,
                              const std::vector<int64_t>& chunk, size_t chunk_cache_bytes) {
  Where w = child(where_, child_path(rel));
  Handle space = make_space(dims, max_dims, w);
  Handle lcpl = intermediate_lcpl(w);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), w, "property list"), H5Pclose);
  if (!chunk.empty()) {
    std::vector<hsize_t> c(chunk.begin(), chunk.end());
    check(H5Pset_chunk(dcpl.id(), static_cast<int>(c.size()), c.data()), w, "chunk layout");
  }
  Handle dapl(check(H5Pcreate(H5P_DATASET_ACCESS), w, "property list"), H5Pclose);
  if (chunk_cache_bytes > 0)
    check(H5Pset_chunk_cache(dapl.id(), 521, chunk_cache_bytes, 1.0), w, "chunk cache");
  hid_t d = H5Dcreate2(id(), rel.c_str(), file_type, space.id(), lcpl.id(), dcpl.id(), dapl.id());
  return Dataset(Handle(check(d, w, "cannot create dataset"), H5Dclose), w);
}

Dataset Group::create_string_dataset(const std::string& rel, int64_t chunk_rows) {
  Handle t = variable_string_type();
  return create_dataset(rel, t.id(), {0}, {-1}, {std::max<int64_t>(chunk_rows, 1)});
}

Dataset Group::create_virtual_dataset(const std::string& rel, hid_t file_type, const std::vector<int64_t>& dims,
                                      const std::vector<VirtualSource>& sources) {
  Where w = child(where_, child_path(rel));
  w.writing = true;
  if (dims.empty()) fail(w, "a virtual dataset needs at least one dimension");
  Handle space = make_space(dims, {}, w);
  Handle dcpl(check(H5Pcreate(H5P_DATASET_CREATE), w, "property list"), H5Pclose);
  for (const VirtualSource& src : sources) {
    if (src.rows <= 0) continue;  // an empty source maps nothing (HDF5 rejects empty selections)
    if (src.begin_row < 0 || src.begin_row + src.rows > dims[0])
      fail(w, "source " + src.file + " rows [" + std::to_string(src.begin_row) + ", " +
                  std::to_string(src.begin_row + src.rows) + ") outside the dataset");
    std::vector<int64_t> src_dims = dims;
    src_dims[0] = src.rows;
    Handle src_space = make_space(src_dims, {}, w);
    std::vector<hsize_t> start(dims.size(), 0), count(src_dims.begin(), src_dims.end());
    start[0] = static_cast<hsize_t>(src.begin_row);
    check(H5Sselect_hyperslab(space.id(), H5S_SELECT_SET, start.data(), nullptr, count.data(), nullptr), w,
          "selection of " + src.file);
    check(H5Pset_virtual(dcpl.id(), space.id(), src.file.c_str(), src.dataset.c_str(), src_space.id()), w,
          "mapping of " + src.file);
  }
  check(H5Sselect_all(space.id()), w, "selection");
  Handle lcpl = intermediate_lcpl(w);
  hid_t d = H5Dcreate2(id(), rel.c_str(), file_type, space.id(), lcpl.id(), dcpl.id(), H5P_DEFAULT);
  return Dataset(Handle(check(d, w, "cannot create virtual dataset"), H5Dclose), w);
}

bool Dataset::is_virtual() const {
  Handle dcpl(check(H5Dget_create_plist(id()), where_, "cannot read its layout"), H5Pclose);
  return H5Pget_layout(dcpl.id()) == H5D_VIRTUAL;
}

std::vector<VirtualSource> Dataset::virtual_sources() const {
  std::vector<VirtualSource> out;
  Handle dcpl(check(H5Dget_create_plist(id()), where_, "cannot read its layout"), H5Pclose);
  if (H5Pget_layout(dcpl.id()) != H5D_VIRTUAL) return out;
  size_t n = 0;
  check(H5Pget_virtual_count(dcpl.id(), &n), where_, "cannot read its virtual mappings");
  auto name = [&](ssize_t (*get)(hid_t, size_t, char*, size_t), size_t i) {
    const ssize_t len = get(dcpl.id(), i, nullptr, 0);
    if (len < 0) fail(where_, "cannot read virtual mapping " + std::to_string(i));
    std::string s(static_cast<size_t>(len) + 1, '\0');
    if (get(dcpl.id(), i, s.data(), s.size()) < 0) fail(where_, "cannot read virtual mapping " + std::to_string(i));
    s.resize(static_cast<size_t>(len));
    return s;
  };
  for (size_t i = 0; i < n; ++i) {
    VirtualSource src;
    src.file = name(H5Pget_virtual_filename, i);
    src.dataset = name(H5Pget_virtual_dsetname, i);
    Handle vspace(check(H5Pget_virtual_vspace(dcpl.id(), i), where_, "virtual mapping"), H5Sclose);
    const int rank = H5Sget_simple_extent_ndims(vspace.id());
    if (rank < 1) fail(where_, "virtual mapping " + std::to_string(i) + " has no rows");
    std::vector<hsize_t> lo(static_cast<size_t>(rank)), hi(static_cast<size_t>(rank));
    check(H5Sget_select_bounds(vspace.id(), lo.data(), hi.data()), where_, "virtual mapping bounds");
    src.begin_row = static_cast<int64_t>(lo[0]);
    src.rows = static_cast<int64_t>(hi[0] - lo[0] + 1);
    out.push_back(src);
  }
  return out;
}

// ---- files ----

File File::open_read(const std::string& path) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::file_status st = fs::status(path, ec);
  if (!fs::exists(st)) throw InputError(path + ": not found");
  if (fs::is_directory(st)) throw InputError(path + ": is a folder, not an HDF5 file");
  if (fs::file_size(path, ec) == 0 && !ec) throw InputError(path + ": is empty (0 bytes)");
  Where w{path, "", false};
  htri_t is = H5Fis_hdf5(path.c_str());
  if (is < 0) fail(w, "cannot be read");
  if (is == 0) throw InputError(path + ": not an HDF5 file");
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), w, "property list"), H5Pclose);
#if H5_VERSION_GE(1, 10, 7)
  // Lock when the file system supports it, read anyway when it does not (network mounts).
  check(H5Pset_file_locking(fapl.id(), 1, 1), w, "property list");
#endif
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDONLY, fapl.id());
  if (f < 0) {
    std::string detail = innermost_hdf5_message();
    bool truncated = detail.find("truncated") != std::string::npos;
    throw InputError(path + ": " +
                     (truncated ? "truncated HDF5 file (an interrupted download or copy?)"
                                : "damaged HDF5 file, cannot be opened") +
                     (detail.empty() ? "" : " (HDF5: " + detail + ")"));
  }
  File file;
  file.handle_ = Handle(f, H5Fclose);
  file.path_ = path;
  return file;
}

namespace {

Handle writing_access(const Where& w, Format format = Format::V18) {
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), w, "property list"), H5Pclose);
  const H5F_libver_t v = format == Format::V110 ? H5F_LIBVER_V110 : H5F_LIBVER_V18;
  check(H5Pset_libver_bounds(fapl.id(), v, v), w, "property list");
  // SEMI: closing fails while objects are open, so close() never reports a file complete early.
  check(H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI), w, "property list");
  return fapl;
}

}  // namespace

File File::create(const std::string& path, Format format) {
  Where w{path, "", true};
  Handle fapl = writing_access(w, format);
  hid_t f = H5Fcreate(path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  File file;
  file.handle_ = Handle(check(f, w, "cannot create the file"), H5Fclose);
  file.path_ = path;
  file.writing_ = true;
  return file;
}

File File::open_write(const std::string& path) {
  Where w{path, "", true};
  Handle fapl = writing_access(w);
  hid_t f = H5Fopen(path.c_str(), H5F_ACC_RDWR, fapl.id());
  File file;
  file.handle_ = Handle(check(f, w, "cannot open the file for writing"), H5Fclose);
  file.path_ = path;
  file.writing_ = true;
  return file;
}

namespace {

// The name HDF5 is given for a file in memory. HDF5 still tries an open(2) of it (whether the
// file is already open), so it must name nothing that can exist: nothing lies under /dev/null.
// Messages use the caller's name.
constexpr const char* kMemoryFileName = "/dev/null/vggtl-file-in-memory";

}  // namespace

File File::open_image(const std::string& name, const std::vector<char>& bytes) {
  Where w{name, "", false};
  if (bytes.empty()) throw InputError(name + ": is empty (0 bytes)");
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), w, "property list"), H5Pclose);
  // The core driver reads from the image HDF5 copies in; backing store off: nothing on disk.
  check(H5Pset_fapl_core(fapl.id(), 1 << 20, 0), w, "property list");
  check(H5Pset_file_image(fapl.id(), const_cast<char*>(bytes.data()), bytes.size()), w, "property list");
  hid_t f = H5Fopen(kMemoryFileName, H5F_ACC_RDONLY, fapl.id());
  if (f < 0) {
    std::string detail = innermost_hdf5_message();
    bool signature = detail.find("signature") != std::string::npos;
    throw InputError(name + ": " + (signature ? "not an HDF5 file" : "damaged HDF5 file, cannot be opened") +
                     (detail.empty() || signature ? "" : " (HDF5: " + detail + ")"));
  }
  File file;
  file.handle_ = Handle(f, H5Fclose);
  file.path_ = name;
  return file;
}

File File::create_in_memory(const std::string& name) {
  Where w{name, "", true};
  // The earliest format (superblock 0, as h5py writes): HDF5 1.10 clears a later superblock's
  // status flags in the image without updating its checksum, and readers then refuse it.
  Handle fapl(check(H5Pcreate(H5P_FILE_ACCESS), w, "property list"), H5Pclose);
  check(H5Pset_fclose_degree(fapl.id(), H5F_CLOSE_SEMI), w, "property list");
  check(H5Pset_fapl_core(fapl.id(), 1 << 20, 0), w, "property list");
  hid_t f = H5Fcreate(kMemoryFileName, H5F_ACC_TRUNC, H5P_DEFAULT, fapl.id());
  File file;
  file.handle_ = Handle(check(f, w, "cannot create the file in memory"), H5Fclose);
  file.path_ = name;
  file.writing_ = true;
  return file;
}

std::vector<char> File::image() const {
  Where w{path_, "", writing_};
  check(H5Fflush(handle_.id(), H5F_SCOPE_LOCAL), w, "cannot flush");
  ssize_t size = H5Fget_file_image(handle_.id(), nullptr, 0);
  if (size <= 0) fail(w, "cannot read its image");
  std::vector<char> out(static_cast<size_t>(size));
  if (H5Fget_file_image(handle_.id(), out.data(), out.size()) != size) fail(w, "cannot read its image");
  return out;
}

Group File::root() const {
  Where w{path_, "/", writing_};
  return Group(Handle(check(H5Gopen2(handle_.id(), "/", H5P_DEFAULT), w, "cannot open root"),
                      H5Gclose),
               w);
}

// libhdf5 1.10 (fixed upstream in 2023) frees a file whose close fails to flush yet keeps its
// identifier, and touches the freed file again at the next close or in its exit handler: a
// crash after a write error (disk full). So a written file is flushed first, and one that cannot
// be flushed is never closed: its identifier is dropped (a leak, until the process ends) and
// the library's exit handler is off (dont_atexit below), so nothing touches it again.
namespace {
[[maybe_unused]] const herr_t dont_atexit = H5dont_atexit();  // before any other HDF5 call: at load time
}  // namespace

namespace {

// false when `handle` was a dataset being written that could not be flushed (then dropped).
bool flush_dataset_or_drop(Handle& handle, bool writing) {
  if (!writing || !handle.valid() || H5Iget_type(handle.id()) != H5I_DATASET) return true;
  if (H5Dflush(handle.id()) >= 0) return true;
  handle.release();
  return false;
}

}  // namespace

bool Object::close() {
  if (!flush_dataset_or_drop(handle_, where_.writing)) return false;
  return handle_.close();
}

Object::~Object() {
  if (handle_.valid() && where_.writing) {
    auto guard = lock();
    if (!flush_dataset_or_drop(handle_, true)) H5Eclear2(H5E_DEFAULT);
  }
}

bool File::flush_or_drop() {
  if (!handle_.valid() || !writing_) return true;
  if (H5Fflush(handle_.id(), H5F_SCOPE_LOCAL) >= 0) return true;
  handle_.release();
  return false;
}

File::~File() {
  if (handle_.valid() && writing_) {
    auto guard = lock();
    if (!flush_or_drop()) H5Eclear2(H5E_DEFAULT);
  }
}

void File::close() {
  if (!handle_.valid()) return;
  if (!flush_or_drop() || (!handle_.try_close() && writing_))
    fail(Where{path_, "", true}, "could not be written completely");
}

}  // namespace vggtl::h5
