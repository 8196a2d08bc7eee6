// The data folders of a run: train (defines the classes), valid, and an optional test split,
// listed up front so that a missing folder or an unknown class stops the run before any work.
#pragma once

#include <optional>
#include <string>

#include "io/loader/dataset.h"

namespace vggtl {

struct SplitPaths {
  std::string train, valid, test;  // test may be empty: none
};

// --data DIR with --train/--valid/--test overrides; DIR/test is used when it exists.
SplitPaths resolve_splits(const std::string& data, const std::string& train, const std::string& valid,
                          const std::string& test);

struct RunSplits {
  SplitListing train, valid;
  std::optional<SplitListing> test;
};

// Lists every split (InputError on any problem) and logs their warnings.
RunSplits list_splits(const SplitPaths& paths);

// SHA-256 over (split, relative path, size, label) of every item: changes when the data do.
std::string data_fingerprint(const RunSplits& s);

}  // namespace vggtl
