// Seconds spent per stage of a run, for the console summary and metrics.json.
#pragma once

namespace vggtl {

struct StageTimes {
  double weights = 0;        // reading the base weights
  double listing = 0;        // listing the splits
  double decode = 0;         // waiting for decoded batches (decoding overlaps the forward pass)
  double base_forward = 0;   // the frozen VGG16 base
  double features = 0;       // scanning the train and valid images and filling the feature cache
  double head_training = 0;  // epochs over the head (incl. validation)
  double checkpoints = 0;    // snapshots for best.h5 / last.h5 and waiting for their writer
  double evaluation = 0;     // the test split
  double total = 0;
};

}  // namespace vggtl
