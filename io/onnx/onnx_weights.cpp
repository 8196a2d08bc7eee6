// ONNX models in: the file is parsed as an onnx::ModelProto (libonnx_proto, protobuf), the
// graph's Conv nodes are walked in order and their weights traced back to the tensors that hold
// them. Every check names the node; nothing here knows about layers (the VGG16 channel plan is
// the file format's contract, as the Keras layer names are for the HDF5 reader).
#include "io/onnx/onnx_weights.h"

#include <onnx/onnx_pb.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>

#include "engine/error.h"

namespace vggtl {

namespace {

// VGG16's 13 convolutions: name and output channels; each takes the previous one's channels
// (3 for the first), 3x3 kernels, stride 1, "same" padding.
struct VggConv {
  const char* name;
  int64_t out;
};
constexpr VggConv kVggConvs[] = {
    {"block1_conv1", 64},  {"block1_conv2", 64},  {"block2_conv1", 128}, {"block2_conv2", 128},
    {"block3_conv1", 256}, {"block3_conv2", 256}, {"block3_conv3", 256}, {"block4_conv1", 512},
    {"block4_conv2", 512}, {"block4_conv3", 512}, {"block5_conv1", 512}, {"block5_conv2", 512},
    {"block5_conv3", 512}};
constexpr int kConvCount = 13;

std::string dims_str(const std::vector<int64_t>& d) {
  std::string s = "(";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + (d.size() == 1 ? ",)" : ")");
}

std::string data_type_name(int t) {
  if (onnx::TensorProto_DataType_IsValid(t))
    return onnx::TensorProto_DataType_Name(static_cast<onnx::TensorProto_DataType>(t));
  return "type " + std::to_string(t);
}

// A tensor a Conv input resolves to, and the Transposes met on the way (from the Conv back).
struct Traced {
  const onnx::TensorProto* tensor = nullptr;
  std::vector<std::vector<int64_t>> perms;
};

class GraphReader {
 public:
  GraphReader(const std::string& path, const onnx::GraphProto& g) : path_(path), g_(g) {
    for (const onnx::TensorProto& t : g.initializer()) initializers_.emplace(t.name(), &t);
    for (int i = 0; i < g.node_size(); ++i)
      for (const std::string& out : g.node(i).output()) producers_.emplace(out, i);
  }

  // "Conv node 'name'" or, for an unnamed node, "Conv node #k (output 'y')".
  std::string label(int index) const {
    const onnx::NodeProto& n = g_.node(index);
    if (!n.name().empty()) return n.op_type() + " node '" + n.name() + "'";
    return n.op_type() + " node #" + std::to_string(index) +
           (n.output_size() > 0 ? " (output '" + n.output(0) + "')" : std::string());
  }

  // Follows `name` back through Identity and Transpose nodes to an initializer or a Constant.
  Traced trace(const std::string& name, const std::string& what) const {
    Traced t;
    std::string current = name;
    for (int hop = 0; hop < 64; ++hop) {
      auto init = initializers_.find(current);
      if (init != initializers_.end()) {
        t.tensor = init->second;
        return t;
      }
      auto prod = producers_.find(current);
      if (prod == producers_.end())
        throw InputError(path_ + ": " + what + " '" + current +
                         "' is neither an initializer nor the output of a node (a graph input?)");
      const onnx::NodeProto& n = g_.node(prod->second);
      if (n.op_type() == "Identity" && n.input_size() == 1) {
        current = n.input(0);
      } else if (n.op_type() == "Transpose" && n.input_size() == 1) {
        std::vector<int64_t> perm;
        for (const onnx::AttributeProto& a : n.attribute())
          if (a.name() == "perm") perm.assign(a.ints().begin(), a.ints().end());
        t.perms.push_back(perm);  // empty: reverse the dimensions (ONNX's default)
        current = n.input(0);
      } else if (n.op_type() == "Constant") {
        for (const onnx::AttributeProto& a : n.attribute())
          if (a.name() == "value" && a.has_t()) {
            t.tensor = &a.t();
            return t;
          }
        throw InputError(path_ + ": " + what + " comes from " + label(prod->second) +
                         ", which holds no tensor 'value'");
      } else {
        throw InputError(path_ + ": " + what + " comes from " + label(prod->second) +
                         ", not from an initializer (through Identity or Transpose)");
      }
    }
    throw InputError(path_ + ": " + what + " '" + name + "': more than 64 Identity/Transpose nodes");
  }

  // The tensor's values as f32 in its own dimensions, then with the Transposes applied.
  std::vector<float> values(const Traced& t, const std::string& what, std::vector<int64_t>* dims,
                            std::vector<std::string>* notes) const {
    const onnx::TensorProto& p = *t.tensor;
    if (p.data_location() == onnx::TensorProto_DataLocation_EXTERNAL)
      throw InputError(path_ + ": " + what + " '" + p.name() +
                       "' is stored in an external data file, which is not supported (VGG16's "
                       "base fits in one ONNX file: export it without external data)");
    dims->assign(p.dims().begin(), p.dims().end());
    int64_t n = 1;
    for (int64_t d : *dims) {
      if (d < 0 || d > (int64_t{1} << 31) || (d > 0 && n > (int64_t{1} << 31) / d))
        throw InputError(path_ + ": " + what + " '" + p.name() + "' has dimensions " + dims_str(*dims));
      n *= d;
    }
    const bool raw = p.has_raw_data();
    const bool is_float = p.data_type() == onnx::TensorProto_DataType_FLOAT;
    if (!is_float && p.data_type() != onnx::TensorProto_DataType_DOUBLE)
      throw InputError(path_ + ": " + what + " '" + p.name() + "' is " + data_type_name(p.data_type()) +
                       ", expected FLOAT (or DOUBLE)");
    // The values the file holds are counted before anything is allocated for the claimed shape.
    const size_t width = is_float ? 4 : 8;
    const size_t stored = raw ? p.raw_data().size() / width
                              : static_cast<size_t>(is_float ? p.float_data_size() : p.double_data_size());
    if (stored != static_cast<size_t>(n) || (raw && p.raw_data().size() % width != 0))
      throw InputError(path_ + ": " + what + " '" + p.name() + "' of shape " + dims_str(*dims) + " holds " +
                       (raw ? std::to_string(p.raw_data().size()) + " bytes" : std::to_string(stored) + " values") +
                       ", expected " + std::to_string(n) + " values");
    std::vector<float> v(static_cast<size_t>(n));
    if (is_float) {
      if (raw) std::memcpy(v.data(), p.raw_data().data(), v.size() * 4);  // little-endian, as ONNX
      else std::copy(p.float_data().begin(), p.float_data().end(), v.begin());
    } else {
      for (size_t i = 0; i < v.size(); ++i) {
        double d;
        if (raw) std::memcpy(&d, p.raw_data().data() + 8 * i, 8);
        else d = p.double_data(static_cast<int>(i));
        v[i] = static_cast<float>(d);
      }
      const std::string note = path_ + ": float64 weights converted to float32";
      if (std::find(notes->begin(), notes->end(), note) == notes->end()) notes->push_back(note);
    }
    for (auto perm = t.perms.rbegin(); perm != t.perms.rend(); ++perm) v = transpose(v, dims, *perm, what);
    return v;
  }

 private:
  std::vector<float> transpose(const std::vector<float>& in, std::vector<int64_t>* dims, std::vector<int64_t> perm,
                               const std::string& what) const {
    const size_t rank = dims->size();
    if (perm.empty())
      for (size_t i = 0; i < rank; ++i) perm.push_back(static_cast<int64_t>(rank - 1 - i));
    std::vector<int64_t> sorted = perm;
    std::sort(sorted.begin(), sorted.end());
    for (size_t i = 0; i < sorted.size(); ++i)
      if (sorted.size() != rank || sorted[i] != static_cast<int64_t>(i))
        throw InputError(path_ + ": " + what + ": a Transpose's perm " + dims_str(perm) +
                         " does not fit a tensor of shape " + dims_str(*dims));
    std::vector<int64_t> in_strides(rank, 1), out_dims(rank);
    for (size_t i = rank; i-- > 1;) in_strides[i - 1] = in_strides[i] * (*dims)[i];
    for (size_t i = 0; i < rank; ++i) out_dims[i] = (*dims)[static_cast<size_t>(perm[i])];
    std::vector<float> out(in.size());
    std::vector<int64_t> idx(rank, 0);
    for (size_t o = 0; o < out.size(); ++o) {
      int64_t src = 0;
      for (size_t i = 0; i < rank; ++i) src += idx[i] * in_strides[static_cast<size_t>(perm[i])];
      out[o] = in[static_cast<size_t>(src)];
      for (size_t i = rank; i-- > 0;) {
        if (++idx[i] < out_dims[i]) break;
        idx[i] = 0;
      }
    }
    *dims = out_dims;
    return out;
  }

  const std::string& path_;
  const onnx::GraphProto& g_;
  std::map<std::string, const onnx::TensorProto*> initializers_;
  std::map<std::string, int> producers_;
};

const onnx::AttributeProto* find_attr(const onnx::NodeProto& n, const std::string& name) {
  for (const onnx::AttributeProto& a : n.attribute())
    if (a.name() == name) return &a;
  return nullptr;
}

std::vector<int64_t> ints_attr(const onnx::NodeProto& n, const std::string& name, std::vector<int64_t> fallback) {
  const onnx::AttributeProto* a = find_attr(n, name);
  return a ? std::vector<int64_t>(a->ints().begin(), a->ints().end()) : fallback;
}

// VGG16's convolution: 3x3, stride 1, dilation 1, one group, one pixel of zero padding.
void check_conv_attributes(const std::string& path, const std::string& label, const onnx::NodeProto& n) {
  auto fail = [&](const std::string& what, const std::string& found, const std::string& expected) {
    throw InputError(path + ": " + label + ": " + what + " " + found + ", expected " + expected +
                     " (not a VGG16 base)");
  };
  if (!n.domain().empty() && n.domain() != "ai.onnx") fail("operator domain", "'" + n.domain() + "'", "the default");
  const std::vector<int64_t> ks = ints_attr(n, "kernel_shape", {3, 3});
  if (ks != std::vector<int64_t>{3, 3}) fail("kernel_shape", dims_str(ks), "(3, 3)");
  const std::vector<int64_t> st = ints_attr(n, "strides", {1, 1});
  if (st != std::vector<int64_t>{1, 1}) fail("strides", dims_str(st), "(1, 1)");
  const std::vector<int64_t> dl = ints_attr(n, "dilations", {1, 1});
  if (dl != std::vector<int64_t>{1, 1}) fail("dilations", dims_str(dl), "(1, 1)");
  const onnx::AttributeProto* group = find_attr(n, "group");
  if (group && group->i() != 1) fail("group", std::to_string(group->i()), "1");
  const onnx::AttributeProto* auto_pad = find_attr(n, "auto_pad");
  const std::string ap = auto_pad ? auto_pad->s() : "NOTSET";
  if (ap == "SAME_UPPER" || ap == "SAME_LOWER") return;
  if (ap != "NOTSET") fail("auto_pad", ap, "SAME_UPPER or explicit pads of 1");
  const std::vector<int64_t> pads = ints_attr(n, "pads", {0, 0, 0, 0});
  if (pads != std::vector<int64_t>{1, 1, 1, 1}) fail("pads", dims_str(pads), "(1, 1, 1, 1)");
}

Tensor to_tensor(const Shape& shape, const std::vector<float>& v) {
  Tensor t = Tensor::empty(shape, DType::F32);
  std::memcpy(t.raw(), v.data(), v.size() * sizeof(float));
  return t;
}

}  // namespace

bool is_onnx_path(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".onnx";
}

WeightsFile read_onnx_weights(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec))
    throw InputError(path + " not found (or not a regular file)");
  std::ifstream in(path, std::ios::binary);
  if (!in) throw InputError(path + ": cannot open: " + std::strerror(errno));
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  if (size < 0) throw InputError(path + ": cannot read its size");
  if (size == 0) throw InputError(path + ": empty file, not an ONNX model");
  if (size > INT_MAX)
    throw InputError(path + ": " + std::to_string(size) + " bytes, over protobuf's 2 GiB limit for one ONNX "
                            "file (VGG16's base is about 59 MB)");
  std::string bytes(static_cast<size_t>(size), '\0');
  in.seekg(0);
  if (!in.read(bytes.data(), size)) throw InputError(path + ": read failed after " + std::to_string(in.gcount()) +
                                                     " of " + std::to_string(size) + " bytes");
  onnx::ModelProto model;
  if (!model.ParseFromString(bytes))
    throw InputError(path + ": not an ONNX model (protobuf parse failed: damaged or another kind of file)");
  bytes.clear();
  bytes.shrink_to_fit();
  if (!model.has_graph() || model.graph().node_size() == 0)
    throw InputError(path + ": not an ONNX model (no graph" +
                     std::string(model.has_graph() ? " nodes" : "") + ")");
  const onnx::GraphProto& g = model.graph();
  GraphReader reader(path, g);

  WeightsFile f;
  f.path = path;
  f.layout = "onnx";
  std::vector<int> convs;
  for (int i = 0; i < g.node_size(); ++i)
    if (g.node(i).op_type() == "Conv") convs.push_back(i);
  if (convs.size() < kConvCount)
    throw InputError(path + ": " + std::to_string(convs.size()) + " Conv node(s) in the graph, VGG16's base has " +
                     std::to_string(kConvCount) + " (not a VGG16 model)");
  int64_t in_channels = 3;
  for (int k = 0; k < kConvCount; ++k) {
    const onnx::NodeProto& n = g.node(convs[static_cast<size_t>(k)]);
    const std::string layer = kVggConvs[k].name;
    const std::string label = reader.label(convs[static_cast<size_t>(k)]) + " (taken for " + layer + ")";
    check_conv_attributes(path, label, n);
    if (n.input_size() < 3 || n.input(2).empty())
      throw InputError(path + ": " + label + " has no bias input (not a VGG16 base)");
    const int64_t out = kVggConvs[k].out;
    std::vector<int64_t> kd, bd;
    std::vector<float> kernel = reader.values(reader.trace(n.input(1), label + ": its kernel"), label + ": its kernel",
                                              &kd, &f.notes);
    std::vector<float> bias = reader.values(reader.trace(n.input(2), label + ": its bias"), label + ": its bias", &bd,
                                            &f.notes);
    const std::vector<int64_t> want_k{out, in_channels, 3, 3};
    if (kd != want_k)
      throw InputError(path + ": " + label + ": kernel of shape " + dims_str(kd) + ", expected " + dims_str(want_k) +
                       " (OIHW; not a VGG16 base)");
    if (bd != std::vector<int64_t>{out})
      throw InputError(path + ": " + label + ": bias of shape " + dims_str(bd) + ", expected " + dims_str({out}));
    // OIHW -> HWIO, Keras's order.
    std::vector<float> hwio(kernel.size());
    for (int64_t o = 0; o < out; ++o)
      for (int64_t i = 0; i < in_channels; ++i)
        for (int64_t h = 0; h < 3; ++h)
          for (int64_t w = 0; w < 3; ++w)
            hwio[static_cast<size_t>(((h * 3 + w) * in_channels + i) * out + o)] =
                kernel[static_cast<size_t>(((o * in_channels + i) * 3 + h) * 3 + w)];
    LayerWeights lw{layer, {}};
    WeightEntry wk{keras_weight_name(layer, "kernel"), n.input(1), Shape{3, 3, in_channels, out}, "float32",
                   to_tensor(Shape{3, 3, in_channels, out}, hwio)};
    WeightEntry wb{keras_weight_name(layer, "bias"), n.input(2), Shape{out}, "float32", to_tensor(Shape{out}, bias)};
    lw.weights.push_back(std::move(wk));
    lw.weights.push_back(std::move(wb));
    f.layer_names.push_back(layer);
    f.groups.push_back(lw);
    f.layers.push_back(std::move(lw));
    in_channels = out;
  }
  std::string producer = model.producer_name().empty() ? "an unnamed producer" : model.producer_name();
  if (!model.producer_version().empty()) producer += " " + model.producer_version();
  f.notes.push_back(path + ": ONNX model from " + producer + ": its first 13 Conv nodes read as block1_conv1 ... "
                           "block5_conv3" +
                    (convs.size() > kConvCount
                         ? " (" + std::to_string(convs.size() - kConvCount) + " further Conv node(s) not used)"
                         : std::string()));
  return f;
}

}  // namespace vggtl
