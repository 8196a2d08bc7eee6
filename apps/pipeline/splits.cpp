// Split folders and the data fingerprint.
#include "apps/pipeline/splits.h"

#include <filesystem>

#include "engine/error.h"
#include "engine/log.h"
#include "io/sha256.h"

namespace vggtl {

SplitPaths resolve_splits(const std::string& data, const std::string& train, const std::string& valid,
                          const std::string& test) {
  namespace fs = std::filesystem;
  SplitPaths p;
  if (!data.empty()) {
    if (!fs::is_directory(data)) throw InputError(data + ": no such folder (--data)");
    p.train = (fs::path(data) / "train").string();
    p.valid = (fs::path(data) / "valid").string();
    const fs::path t = fs::path(data) / "test";
    if (fs::is_directory(t)) p.test = t.string();
  }
  if (!train.empty()) p.train = train;
  if (!valid.empty()) p.valid = valid;
  if (!test.empty()) p.test = test;
  if (p.train.empty()) throw InputError("no training data: give --data DIR (with train/ and valid/) or --train DIR");
  if (p.valid.empty()) throw InputError("no validation data: give --data DIR (with train/ and valid/) or --valid DIR");
  return p;
}

RunSplits list_splits(const SplitPaths& paths) {
  RunSplits s;
  s.train = list_split(paths.train);
  s.valid = list_split(paths.valid, &s.train.classes);
  if (!paths.test.empty()) s.test = list_split(paths.test, &s.train.classes);
  for (const SplitListing* l : {&s.train, &s.valid, s.test ? &*s.test : nullptr})
    if (l)
      for (const std::string& w : l->warnings) log_warning(w);
  return s;
}

std::string data_fingerprint(const RunSplits& s) {
  Digest h;
  auto add = [&](const char* name, const SplitListing& l) {
    for (const DataItem& it : l.items)
      h.update(std::string(name) + "\t" + it.relpath + "\t" + std::to_string(it.bytes) + "\t" +
               std::to_string(it.label) + "\n");
  };
  add("train", s.train);
  add("valid", s.valid);
  if (s.test) add("test", *s.test);
  return h.hex();
}

}  // namespace vggtl
