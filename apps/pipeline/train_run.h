// vggtl_train's whole job: list the data, load the base weights, build the feature cache,
// train the head with crash-safe checkpoints, evaluate the best model on the test split and
// write the run folder (README.md, "The tools"). The stages are train_stages.h's; tested end to end
// in tests/apps/test_train_app.cpp and test_finetune_app.cpp.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "apps/pipeline/report.h"
#include "apps/pipeline/train_options.h"

namespace CLI {
class App;
}

namespace vggtl {

// What a caller in the same process (the Python module) hears of a run: the run folder once it
// is chosen, and each epoch's record once its checkpoint is queued and history.csv written.
struct TrainObserver {
  std::function<void(const std::string& out)> on_start;
  std::function<void(const EpochRecord& record)> on_epoch_end;
};

// `given`: the option keys (as in TrainOptions::to_json) the user named explicitly, so that
// --resume can tell a deliberate change from a default. Returns the exit status.
int run_training(TrainOptions options, const std::set<std::string>& given, const std::string& command_line,
                 const TrainObserver* observer = nullptr);

// vggtl_train after its command line is parsed into `options` by `app` (TrainOptions::add_to):
// the HDF5 inputs checked in another process, the options given explicitly found, the run.
int train_command(const CLI::App& app, const TrainOptions& options, const std::string& command_line,
                  const TrainObserver* observer = nullptr);

}  // namespace vggtl
