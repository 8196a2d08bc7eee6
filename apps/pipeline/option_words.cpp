#include "apps/pipeline/option_words.h"

namespace vggtl {

template <>
const std::vector<std::pair<std::string, OptimizerKind>>& option_words() {
  static const std::vector<std::pair<std::string, OptimizerKind>> w = {{"adam", OptimizerKind::Adam},
                                                                      {"sgd", OptimizerKind::Sgd}};
  return w;
}
template <>
const std::vector<std::pair<std::string, Monitor>>& option_words() {
  static const std::vector<std::pair<std::string, Monitor>> w = {{"val_loss", Monitor::ValLoss},
                                                                {"val_accuracy", Monitor::ValAccuracy},
                                                                {"loss", Monitor::Loss},
                                                                {"accuracy", Monitor::Accuracy}};
  return w;
}
template <>
const std::vector<std::pair<std::string, Shuffle>>& option_words() {
  static const std::vector<std::pair<std::string, Shuffle>> w = {{"on", Shuffle::On}, {"off", Shuffle::Off}};
  return w;
}
template <>
const std::vector<std::pair<std::string, CacheMode>>& option_words() {
  static const std::vector<std::pair<std::string, CacheMode>> w = {{"auto", CacheMode::Auto}, {"off", CacheMode::Off}};
  return w;
}
template <>
const std::vector<std::pair<std::string, BadFilePolicy>>& option_words() {
  static const std::vector<std::pair<std::string, BadFilePolicy>> w = {{"skip", BadFilePolicy::Skip},
                                                                      {"fail", BadFilePolicy::Fail}};
  return w;
}
template <>
const std::vector<std::pair<std::string, ResizeFilter>>& option_words() {
  static const std::vector<std::pair<std::string, ResizeFilter>> w = {{"nearest", ResizeFilter::Nearest},
                                                                     {"bilinear", ResizeFilter::Bilinear}};
  return w;
}
template <>
const std::vector<std::pair<std::string, PixelTransform>>& option_words() {
  static const std::vector<std::pair<std::string, PixelTransform>> w = {{"caffe", PixelTransform::Caffe},
                                                                       {"none", PixelTransform::None}};
  return w;
}
template <>
const std::vector<std::pair<std::string, Precision>>& option_words() {
  static const std::vector<std::pair<std::string, Precision>> w = {
      {"fp32", Precision::FP32}, {"tf32", Precision::TF32}, {"bf16", Precision::BF16}};
  return w;
}
template <>
const std::vector<std::pair<std::string, AllreduceRoute>>& option_words() {
  static const std::vector<std::pair<std::string, AllreduceRoute>> w = {
      {"auto", AllreduceRoute::Auto}, {"mpi", AllreduceRoute::Mpi}, {"nccl", AllreduceRoute::Nccl}};
  return w;
}
template <>
const std::vector<std::pair<std::string, DType>>& option_words() {
  static const std::vector<std::pair<std::string, DType>> w = {{"fp32", DType::F32}, {"fp16", DType::F16}};
  return w;
}
template <>
const std::vector<std::pair<std::string, DeviceChoice>>& option_words() {
  static const std::vector<std::pair<std::string, DeviceChoice>> w = {
      {"auto", DeviceChoice::Auto}, {"cuda", DeviceChoice::Cuda}, {"cpu", DeviceChoice::Cpu}};
  return w;
}
template <>
const std::vector<std::pair<std::string, DecodeMode>>& option_words() {
  // decode_mode_name's words, in --help's order.
  static const std::vector<std::pair<std::string, DecodeMode>> w = [] {
    std::vector<std::pair<std::string, DecodeMode>> v;
    for (DecodeMode m : {DecodeMode::Auto, DecodeMode::Cpu, DecodeMode::Gpu}) v.emplace_back(decode_mode_name(m), m);
    return v;
  }();
  return w;
}

}  // namespace vggtl
