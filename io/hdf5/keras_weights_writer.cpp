// The Keras-1 weights layout, written with io/hdf5/hdf5.h: fixed-length strings as the VGG16
// downloads hold them (h5py wrote NumPy bytes arrays), an empty weight_names list for layers
// without weights, contiguous float32 datasets.
#include "io/hdf5/keras_weights_writer.h"

#include <map>

#include "engine/error.h"
#include "io/atomic_file.h"
#include "io/hdf5/hdf5.h"

namespace vggtl {

void write_keras1_weights(const std::string& path, const std::vector<std::string>& layer_names,
                          const std::vector<LayerWeights>& layers) {
  std::map<std::string, const LayerWeights*> by_name;
  for (const LayerWeights& l : layers) by_name.emplace(l.layer, &l);
  for (const std::string& name : layer_names) by_name.erase(name);
  VGGTL_CHECK(by_name.empty(), "layer ", by_name.empty() ? "" : by_name.begin()->first, " is not in layer_names");
  for (const LayerWeights& l : layers) by_name.emplace(l.layer, &l);
  write_atomically(path, [&](const std::string& temp) {
    auto guard = h5::lock();
    h5::File file = h5::File::create(temp);
    {
      h5::Group root = file.root();
      root.write_strings_attr("layer_names", layer_names, h5::Strings::Fixed);
      for (const std::string& name : layer_names) {
        h5::Group g = root.create_group(name);
        auto it = by_name.find(name);
        std::vector<std::string> weight_names;
        if (it != by_name.end())
          for (const WeightEntry& w : it->second->weights) weight_names.push_back(w.name);
        g.write_strings_attr("weight_names", weight_names, h5::Strings::Fixed);
        if (it == by_name.end()) continue;
        for (const WeightEntry& w : it->second->weights) {
          VGGTL_CHECK(w.value.defined() && w.value.dtype() == DType::F32 && w.value.device().is_cpu() &&
                          w.value.shape() == w.shape,
                      "weight ", w.name, " must be an f32 CPU tensor of shape ", w.shape.str());
          h5::Dataset d = g.create_dataset(w.name, H5T_IEEE_F32LE, w.shape.vec());
          d.write(H5T_NATIVE_FLOAT, w.value.raw());
        }
      }
    }
    file.close();
  });
}

}  // namespace vggtl
