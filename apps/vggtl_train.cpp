// vggtl_train: trains the classifier head on a frozen VGG16 base (README.md, "The tools").
#include <CLI/CLI.hpp>

#include <cstdio>
#include <string>

#include "apps/pipeline/app_main.h"
#include "apps/pipeline/cluster.h"
#include "apps/pipeline/train_options.h"
#include "apps/pipeline/train_run.h"
#include "engine/error.h"
#include "kernels/cpu_backend.h"

int main(int argc, char** argv) {
  vggtl::restart_with_openmp_wait_policy(argv);  // idle OpenMP threads sleep: see cpu_backend.h
  return vggtl::cluster::run("vggtl_train", &argc, &argv, [&] {
    CLI::App app{"vggtl_train: train a classifier head on a frozen, ImageNet-pretrained VGG16 base.\n"
                 "DATA holds train/, valid/ and optionally test/, each with one sub-folder per class.\n"
                 "Example: vggtl_train --data data --out runs/cats_dogs"};
    vggtl::TrainOptions opt;
    opt.add_to(app);
    bool version = false;
    app.add_flag("--version", version, "Print version, build options, libraries and devices, then exit");
    if (const int status = vggtl::parse_command_line(app, argc, argv); status >= 0) return status;
    if (version) {
      std::fputs(vggtl::full_version_report().c_str(), stdout);
      return 0;
    }
    std::string command_line;
    for (int i = 0; i < argc; ++i) command_line += (i ? " " : "") + std::string(argv[i]);
    return vggtl::train_command(app, opt, command_line);
  });
}
