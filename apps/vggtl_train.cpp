// vggtl_train: trains the classifier head on a frozen VGG16 base (spec.md, "Commands").
#include <CLI/CLI.hpp>

#include <cstdio>

#include "apps/common/app_main.h"

int main(int argc, char** argv) {
  return vggtl::run_app("vggtl_train", [&] {
    CLI::App app{"vggtl_train: transfer learning with a frozen VGG16 base"};
    bool version = false;
    app.add_flag("--version", version, "Print version, build options, libraries and devices");
    app.parse(argc, argv);
    if (version) {
      std::fputs(vggtl::full_version_report().c_str(), stdout);
      return 0;
    }
    std::fputs(app.help().c_str(), stdout);
    return 0;
  });
}
