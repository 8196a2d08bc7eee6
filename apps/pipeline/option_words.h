// The words of every option that takes one of a fixed set of values, in one place: the enums of
// vggtl_train's own options, and the words of the engine's enums the tools take (device,
// precision, resize filter, preprocessing, decoding, the feature cache's element type, the
// gradient sum). The words the user types (and run.json stores) become values once, at that
// edge; option_choice.h turns them into command-line options.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "apps/pipeline/gradient_reduce.h"
#include "engine/device.h"
#include "engine/dtype.h"
#include "engine/error.h"
#include "io/loader/image_loader.h"
#include "kernels/resize_preprocess.h"
#include "layers/layer.h"

namespace vggtl {

enum class OptimizerKind { Adam, Sgd };
enum class Monitor { ValLoss, ValAccuracy, Loss, Accuracy };  // what picks best.h5
enum class Shuffle { On, Off };
enum class CacheMode { Auto, Off };        // --feature-cache
enum class BadFilePolicy { Skip, Fail };   // --on-bad-file

// The words of each option enum (OptimizerKind, Monitor, Shuffle, CacheMode, BadFilePolicy,
// ResizeFilter, PixelTransform, Precision, AllreduceRoute, DeviceChoice, DecodeMode, and DType
// as the feature cache's fp32 / fp16), in the order --help lists them. option_choice.h turns
// them into command-line options.
template <typename E>
const std::vector<std::pair<std::string, E>>& option_words();
template <>
const std::vector<std::pair<std::string, OptimizerKind>>& option_words<OptimizerKind>();
template <>
const std::vector<std::pair<std::string, Monitor>>& option_words<Monitor>();
template <>
const std::vector<std::pair<std::string, Shuffle>>& option_words<Shuffle>();
template <>
const std::vector<std::pair<std::string, CacheMode>>& option_words<CacheMode>();
template <>
const std::vector<std::pair<std::string, BadFilePolicy>>& option_words<BadFilePolicy>();
template <>
const std::vector<std::pair<std::string, ResizeFilter>>& option_words<ResizeFilter>();
template <>
const std::vector<std::pair<std::string, PixelTransform>>& option_words<PixelTransform>();
template <>
const std::vector<std::pair<std::string, Precision>>& option_words<Precision>();
template <>
const std::vector<std::pair<std::string, AllreduceRoute>>& option_words<AllreduceRoute>();
template <>
const std::vector<std::pair<std::string, DType>>& option_words<DType>();
template <>
const std::vector<std::pair<std::string, DeviceChoice>>& option_words<DeviceChoice>();
template <>
const std::vector<std::pair<std::string, DecodeMode>>& option_words<DecodeMode>();
// The word of a value, and the value of a word (InputError naming `what` and the valid words).
template <typename E>
const std::string& option_word(E value) {
  for (const auto& [word, v] : option_words<E>())
    if (v == value) return word;
  throw Error("option value without a word");
}
template <typename E>
E option_value(const std::string& word, const std::string& what) {
  std::string valid;
  for (const auto& [w, v] : option_words<E>()) {
    if (w == word) return v;
    valid += (valid.empty() ? "" : ", ") + w;
  }
  throw InputError(what + " '" + word + "' is not one of " + valid);
}

}  // namespace vggtl
