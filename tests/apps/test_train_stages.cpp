// The training run's stages in process (apps/pipeline/train_stages.h): a run folder refused or
// made, the optimizer chosen, a checkpoint written by RunCheckpointer read back by resume_run
// with its history, position and options, and the run folder's summary files.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <limits>
#include <set>
#include <stdexcept>

#include "apps/pipeline/train_stages.h"
#include "engine/error.h"
#include "support/app_runner.h"
#include "test_util.h"

namespace vggtl {

namespace {

namespace fs = std::filesystem;

// A small run's options: a random base at 32 px, so that the model builds in a moment.
TrainOptions small_options(const std::string& out) {
  TrainOptions o;
  o.weights = "none";
  o.image_size = 32;
  o.hidden = 8;
  o.out = out;
  o.epochs = 3;
  o.lr = 0.01;
  return o;
}

BaseWeights random_base(uint64_t seed) {
  std::promise<std::string> p;
  p.set_value("random-he-uniform:seed=" + std::to_string(seed));
  return BaseWeights{"none", true, p.get_future().share()};
}

}  // namespace

// The options' enums leave the command line as values and are stored as their words: a run.json
// round trip keeps every value, and a word no value has is refused naming the option.
TEST(TrainOptions, EnumOptionsTravelAsTheirWords) {
  TrainOptions o;
  o.optimizer = OptimizerKind::Sgd;
  o.monitor = Monitor::ValAccuracy;
  o.shuffle = Shuffle::Off;
  o.interpolation = ResizeFilter::Bilinear;
  o.preprocessing = PixelTransform::None;
  o.precision = Precision::BF16;
  o.feature_cache = CacheMode::Off;
  o.on_bad_file = BadFilePolicy::Fail;
  o.feature_cache_dtype = DType::F16;
  const nlohmann::json j = o.to_json();
  EXPECT_EQ(j["optimizer"], "sgd");
  EXPECT_EQ(j["monitor"], "val_accuracy");
  EXPECT_EQ(j["shuffle"], "off");
  EXPECT_EQ(j["interpolation"], "bilinear");
  EXPECT_EQ(j["preprocessing"], "none");
  EXPECT_EQ(j["precision"], "bf16");
  EXPECT_EQ(j["feature_cache"], "off");
  EXPECT_EQ(j["on_bad_file"], "fail");
  EXPECT_EQ(j["feature_cache_dtype"], "fp16");
  TrainOptions back;
  back.from_json(j);
  EXPECT_EQ(back.to_json(), j);
  nlohmann::json bad = j;
  bad["optimizer"] = "rmsprop";
  try {
    back.from_json(bad);
    ADD_FAILURE() << "an unknown optimizer word was read";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("optimizer 'rmsprop' is not one of adam, sgd"), std::string::npos)
        << e.what();
  }
  EXPECT_EQ(option_value<Monitor>("loss", "--monitor"), Monitor::Loss);
  EXPECT_EQ(option_word(DType::F32), "fp32");
}

// Every word table: words unique, each word the value's and back, and the tables whose words
// another layer also prints (decode modes, precisions, filters) agree with it.
template <typename E>
void expect_words_round_trip() {
  std::set<std::string> seen;
  for (const auto& [word, value] : option_words<E>()) {
    EXPECT_TRUE(seen.insert(word).second) << "word '" << word << "' twice";
    EXPECT_EQ(option_word(value), word);
    EXPECT_EQ(option_value<E>(word, "--x"), value);
  }
  EXPECT_GE(seen.size(), 2u);
  EXPECT_THROW(option_value<E>("no-such-word", "--x"), InputError);
}

TEST(TrainStages, EveryOptionWordTableRoundTrips) {
  expect_words_round_trip<OptimizerKind>();
  expect_words_round_trip<Monitor>();
  expect_words_round_trip<Shuffle>();
  expect_words_round_trip<CacheMode>();
  expect_words_round_trip<BadFilePolicy>();
  expect_words_round_trip<ResizeFilter>();
  expect_words_round_trip<PixelTransform>();
  expect_words_round_trip<Precision>();
  expect_words_round_trip<AllreduceRoute>();
  expect_words_round_trip<DeviceChoice>();
  expect_words_round_trip<DecodeMode>();
  expect_words_round_trip<DType>();
  for (DecodeMode m : {DecodeMode::Auto, DecodeMode::Cpu, DecodeMode::Gpu}) EXPECT_EQ(option_word(m), decode_mode_name(m));
  for (Precision p : {Precision::FP32, Precision::TF32, Precision::BF16}) EXPECT_EQ(option_word(p), precision_name(p));
  for (ResizeFilter f : {ResizeFilter::Nearest, ResizeFilter::Bilinear}) EXPECT_EQ(option_word(f), resize_filter_name(f));
  try {
    option_value<DeviceChoice>("tpu", "--device");
    ADD_FAILURE() << "--device tpu was read";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "--device 'tpu' is not one of auto, cuda, cpu");
  }
}

TEST(TrainStages, AllreduceWithoutDistributedTrainingIsRefused) {
  TrainOptions o = small_options("unused");
  o.allreduce = AllreduceRoute::Auto;  // the default: nothing was asked for
  EXPECT_NO_THROW(o.validate());
  o.allreduce = AllreduceRoute::Nccl;
  try {
    o.validate();
    ADD_FAILURE() << "--allreduce nccl without --distributed-train was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--allreduce nccl chooses how --distributed-train sums gradients"),
              std::string::npos)
        << e.what();
  }
  o.distributed_train = true;
  EXPECT_NO_THROW(o.validate());
}

TEST(TrainStages, RunFolderIsMadeAndAnotherRunIsNotOverwritten) {
  const std::string root = test::temp_dir("train_stages_folder");
  TrainOptions o = small_options(root + "/a/b");
  EXPECT_EQ(prepare_run_folder(o, false), root + "/a/b");
  EXPECT_TRUE(fs::is_directory(root + "/a/b"));
  std::ofstream(root + "/a/b/last.h5") << "x";
  try {
    prepare_run_folder(o, false);
    ADD_FAILURE() << "a folder holding last.h5 was accepted for a new run";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--resume"), std::string::npos) << e.what();
  }
  EXPECT_EQ(prepare_run_folder(o, true), root + "/a/b");  // resuming it is what --resume does
  std::ofstream(root + "/file") << "x";
  o.out = root + "/file";
  EXPECT_THROW(prepare_run_folder(o, false), InputError);
}

TEST(TrainStages, ResumeNeedsTheFolderAndItsLastCheckpoint) {
  TrainOptions o = small_options("");
  EXPECT_FALSE(resume_run(&o, {}).has_value());  // no --resume: nothing to do
  o.resume = true;
  EXPECT_THROW(resume_run(&o, {}), InputError);  // --resume without --out
  o.out = test::temp_dir("train_stages_empty") + "/no_such_run";
  try {
    resume_run(&o, {});
    ADD_FAILURE() << "resumed a folder that does not exist";
  } catch (const InputError& e) {
    EXPECT_EQ(std::string(e.what()), o.out + ": no such run folder, nothing to resume");
  }
  // A run folder without last.h5 (stopped while its features were computed): started afresh.
  o.out = test::temp_dir("train_stages_empty");
  EXPECT_FALSE(resume_run(&o, {}).has_value());
  EXPECT_FALSE(o.resume);
}

TEST(TrainStages, OptimizerFollowsTheOption) {
  TrainOptions o = small_options("");
  RunModel rm = build_run_model(o, 2, Device::cpu(), random_base(o.seed), false);
  EXPECT_NE(dynamic_cast<Adam*>(make_optimizer(o, *rm.model, 0.1).get()), nullptr);
  o.optimizer = OptimizerKind::Sgd;
  EXPECT_NE(dynamic_cast<Sgd*>(make_optimizer(o, *rm.model, 0.1).get()), nullptr);
}

// What RunCheckpointer writes mid-run is what resume_run reads: history, position, stage, and
// the options, of which one the user gives anew and differently is refused.
TEST(TrainStages, CheckpointerWritesWhatResumeReads) {
  const std::string out = test::temp_dir("train_stages_resume");
  TrainOptions o = small_options(out);
  o.trainable_from = "block5_conv3";
  RunModel rm = build_run_model(o, 2, Device::cpu(), random_base(o.seed), false);
  EXPECT_EQ(rm.fine_tuned, std::vector<std::string>{"block5_conv3"});
  EXPECT_EQ(rm.model->layer(rm.boundary).name(), "block5_conv3");
  EXPECT_EQ(rm.model->layer(rm.first_head).name(), "flatten_1");
  StageTimes times;
  const BaseWeights base = random_base(o.seed);
  {
    RunCheckpointer checkpoints(RunCheckpointer::Run{&o, {"cats", "dogs"}, out, base.sha256, "fingerprint", "run"}, rm,
                                &times);
    std::unique_ptr<Optimizer> optimizer = make_optimizer(o, *rm.model, o.lr);
    RunState state;
    state.history = {EpochRecord{1, 0.7, 0.5, 0.69, 0.5, 1.5, 0}};
    state.best_value = 0.69;
    state.best_epoch = 1;
    checkpoints.save("best.h5", false, EpochPosition{2, 0, {}, 0}, state, *optimizer, 0);  // epoch 1, the best
    checkpoints.save("last.h5", false, EpochPosition{2, 3, XentSums{1.25, 2, 4}, 0.75}, state, *optimizer, 0);
    checkpoints.wait();
  }
  TrainOptions again = small_options(out);
  again.resume = true;
  again.epochs = 7;  // a new --epochs is taken in a one-stage run
  std::optional<ResumedRun> r = resume_run(&again, {"epochs", "resume", "out"});
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(again.epochs, 7);
  EXPECT_EQ(again.trainable_from, "block5_conv3");  // the run's own options
  EXPECT_EQ(r->position.epoch, 2);
  EXPECT_EQ(r->position.batches_done, 3);
  EXPECT_EQ(r->position.partial.loss_sum, 1.25);
  EXPECT_EQ(r->position.partial.count, 4);
  EXPECT_EQ(r->stage, 1);
  ASSERT_EQ(r->history.size(), 1u);
  EXPECT_EQ(r->history[0].val_loss, 0.69);
  EXPECT_EQ(r->checkpoint.meta->data_fingerprint, "fingerprint");
  EXPECT_EQ(r->checkpoint.meta->best_epoch, 1);

  TrainOptions other = small_options(out);
  other.resume = true;
  other.lr = 0.5;
  try {
    resume_run(&other, {"lr", "resume", "out"});
    ADD_FAILURE() << "a changed --lr was accepted on --resume";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--lr"), std::string::npos) << e.what();
  }

  // A stored option of the wrong JSON type is a damaged file, named (it was a JSON type error).
  Checkpoint last = read_checkpoint(out + "/last.h5");
  nlohmann::json config = nlohmann::json::parse(last.meta->run_config_json);
  config["batch_size"] = "thirty";
  last.meta->run_config_json = config.dump();
  write_checkpoint(out + "/last.h5", last.model, *last.meta);
  TrainOptions damaged = small_options(out);
  damaged.resume = true;
  const std::string e = test::error_of([&] {
    try {
      resume_run(&damaged, {"resume", "out"});
    } catch (const InputError&) {
      throw;
    } catch (const std::exception& thrown) {
      throw std::runtime_error(std::string("not an InputError: ") + thrown.what());
    }
  });
  EXPECT_EQ(e.rfind(out + "/last.h5: damaged run options in vggtl/", 0), 0u) << e;

  // So is a position the trainer cannot start from (a negative batch indexed before the data).
  config["batch_size"] = o.batch_size;
  last.meta->run_config_json = config.dump();
  nlohmann::json state = nlohmann::json::parse(last.meta->history_json);
  state["position"]["batches_done"] = -3;
  last.meta->history_json = state.dump();
  write_checkpoint(out + "/last.h5", last.model, *last.meta);
  const std::string position = test::error_of([&] { resume_run(&damaged, {"resume", "out"}); });
  EXPECT_EQ(position.rfind(out + "/last.h5: damaged run state in vggtl/ (epoch 2, batch -3", 0), 0u) << position;
}

TEST(TrainStages, RunFolderSummaryFiles) {
  const std::string out = test::temp_dir("train_stages_summary");
  TrainOptions o = small_options(out);
  RunState state;
  state.history = {EpochRecord{1, 0.7, 0.5, 0.69, 0.5, 1.5, 0}, EpochRecord{2, 0.6, 0.6, 0.65, 0.75, 1.4, 0}};
  state.best_value = 0.65;
  state.best_epoch = 2;
  state.bad_files = {BadFileRecord{"train/cats/broken.jpg", "not a JPEG"}};
  TrainInputs inputs;
  inputs.train_items.resize(5);
  inputs.valid_items.resize(3);
  inputs.cache = true;
  ReportInput report;
  report.class_names = {"cats", "dogs"};
  StageTimes times;
  times.total = 2.5;
  write_run_folder(RunSummary{&o, out, "vggtl_train --data d", "d", Device::cpu(), random_base(o.seed), &state,
                              &inputs, &report, times, 0.1, 0});
  const std::string history = test::read_text(out + "/history.csv");
  EXPECT_NE(history.find("epoch,loss,accuracy,val_loss,val_accuracy"), std::string::npos) << history;
  EXPECT_NE(test::read_text(out + "/bad_files.csv").find("broken.jpg"), std::string::npos);
  const nlohmann::json m = nlohmann::json::parse(test::read_text(out + "/metrics.json"));
  EXPECT_EQ(m["best_epoch"], 2);
  EXPECT_EQ(m["images"]["train"], 5);
  EXPECT_EQ(m["images"]["bad"], 1);
  EXPECT_EQ(m["feature_cache"], true);
  EXPECT_FALSE(m.contains("test"));  // no test split
  EXPECT_EQ(m["base_weights"]["file"], "none");
  EXPECT_NE(test::read_text(out + "/report.html").find("broken.jpg"), std::string::npos);
}

TEST(TrainStages, PlanOfAOneStageRun) {
  const StagesPlan fresh = plan_stages(5, 0, 1e-3, 1e-5, false);
  ASSERT_EQ(fresh.stages.size(), 1u);
  EXPECT_EQ(fresh.stages[0].number, 0) << "a one-stage run has no stage column";
  EXPECT_EQ(fresh.stages[0].first_epoch, 1);
  EXPECT_EQ(fresh.stages[0].last_epoch, 5);
  EXPECT_EQ(fresh.stages[0].lr, 1e-3);
  EXPECT_FALSE(fresh.restore);
  const StagesPlan resumed = plan_stages(5, 0, 1e-3, 1e-5, true, 1, 4);
  ASSERT_EQ(resumed.stages.size(), 1u);
  EXPECT_TRUE(resumed.restore) << "the checkpoint's optimizer and position continue";
}

TEST(TrainStages, PlanOfATwoStageRunAndWhereEachResumeBegins) {
  const StagesPlan fresh = plan_stages(3, 2, 1e-3, 1e-5, false);
  ASSERT_EQ(fresh.stages.size(), 2u);
  EXPECT_EQ(fresh.stages[0].number, 1);
  EXPECT_EQ(fresh.stages[0].first_epoch, 1);
  EXPECT_EQ(fresh.stages[0].last_epoch, 3);
  EXPECT_EQ(fresh.stages[0].lr, 1e-3);
  EXPECT_EQ(fresh.stages[1].number, 2);
  EXPECT_EQ(fresh.stages[1].first_epoch, 4);
  EXPECT_EQ(fresh.stages[1].last_epoch, 5);
  EXPECT_EQ(fresh.stages[1].lr, 1e-5);
  EXPECT_FALSE(fresh.restore);

  // Stopped in stage 1 (epoch 2 next): both stages, stage 1 restored.
  StagesPlan p = plan_stages(3, 2, 1e-3, 1e-5, true, 1, 2);
  ASSERT_EQ(p.stages.size(), 2u);
  EXPECT_TRUE(p.restore);
  // Stopped after stage 1's last epoch (epoch 4 next, stage 1's checkpoint): stage 2 afresh.
  p = plan_stages(3, 2, 1e-3, 1e-5, true, 1, 4);
  ASSERT_EQ(p.stages.size(), 1u);
  EXPECT_EQ(p.stages[0].number, 2);
  EXPECT_FALSE(p.restore) << "stage 1's optimizer state does not belong to stage 2";
  // Stopped inside stage 2: stage 2, restored.
  p = plan_stages(3, 2, 1e-3, 1e-5, true, 2, 5);
  ASSERT_EQ(p.stages.size(), 1u);
  EXPECT_EQ(p.stages[0].number, 2);
  EXPECT_EQ(p.stages[0].first_epoch, 4);
  EXPECT_TRUE(p.restore);
}

TEST(TrainStages, WithoutMpiexecAProcessIsSolo) {
  TrainOptions o = small_options("unused");
  EXPECT_EQ(rank_role(o), RankRole::Solo);
  EXPECT_TRUE(writes_run_folder(rank_role(o)));
  o.distributed_train = true;
  EXPECT_EQ(rank_role(o), RankRole::Solo);
  EXPECT_FALSE(distributed_training(rank_role(o), o)) << "--distributed-train needs mpiexec";
  EXPECT_TRUE(distributed_training(RankRole::Root, o));
  EXPECT_TRUE(distributed_training(RankRole::Follower, o));
  EXPECT_FALSE(writes_run_folder(RankRole::Follower));
  EXPECT_FALSE(writes_run_folder(RankRole::FeatureHelper));
}

TEST(TrainStages, BatchesPerEpochRoundUpAndStopAtTheStepLimit) {
  EXPECT_EQ(batches_per_epoch(10, 4), 3);
  EXPECT_EQ(batches_per_epoch(12, 4), 3);
  EXPECT_EQ(batches_per_epoch(1, 30), 1);
  EXPECT_EQ(batches_per_epoch(10, 4, 2), 2);
  EXPECT_EQ(batches_per_epoch(10, 4, 9), 3);
  EXPECT_EQ(batches_per_epoch(10, 4, 0), 3) << "0: no limit";
}

TEST(ImageInputOptions, EachToolChecksTheSameWayAndNamesTheOption) {
  EXPECT_NO_THROW(check_image_input(224, 30, 0));
  EXPECT_NO_THROW(check_image_input(0, 1, 4)) << "0: a tool without --image-size";
  auto message = [](int size, int batch, int workers) {
    try {
      check_image_input(size, batch, workers);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message(200, 30, 0), "--image-size must be a positive multiple of 32 (VGG16 halves it five times), got 200");
  EXPECT_EQ(message(-32, 30, 0), "--image-size must be a positive multiple of 32 (VGG16 halves it five times), got -32");
  EXPECT_EQ(message(224, 0, 0), "--batch-size must be at least 1, got 0");
  EXPECT_EQ(message(0, 30, -1), "--workers must be 0 (every core) or more, got -1");
}

TEST(ImageInputOptions, DeclaredOnceForEveryTool) {
  // The help of each shared option is the same in vggtl_train, vggtl_extract and vggtl_eval.
  std::vector<std::string> helps;
  for (const char* tool : {"vggtl_train", "vggtl_extract", "vggtl_eval"}) {
    const test::RunResult r = test::run_tool({tool, "--help"});
    ASSERT_EQ(r.status, 0) << tool << ": " << r.err;
    for (const char* flag : {"--device", "--precision", "--batch-size", "--workers", "--decode"}) {
      const size_t at = r.out.find(std::string(flag) + " ");
      ASSERT_NE(at, std::string::npos) << tool << " has no " << flag << ":\n" << r.out;
      const size_t end = r.out.find('\n', at);
      helps.push_back(r.out.substr(at, end - at));
    }
  }
  for (size_t i = 5; i < helps.size(); ++i) EXPECT_EQ(helps[i], helps[i % 5]) << "tool " << i / 5;
}

}  // namespace vggtl
