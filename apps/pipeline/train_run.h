// vggtl_train's whole job: list the data, load the base weights, build the feature cache,
// train the head with crash-safe checkpoints, evaluate the best model on the test split and
// write the run folder (README.md, "The tools"). The stages are train_stages.h's; tested end to end
// in tests/apps/test_train_app.cpp and test_finetune_app.cpp.
#pragma once

#include <set>
#include <string>

#include "apps/pipeline/train_options.h"

namespace vggtl {

// `given`: the option keys (as in TrainOptions::to_json) the user named explicitly, so that
// --resume can tell a deliberate change from a default. Returns the exit status.
int run_training(TrainOptions options, const std::set<std::string>& given, const std::string& command_line);

}  // namespace vggtl
