// The one oneDNN CPU engine the CPU convolutions (forward and backward) share.
#pragma once

#include <dnnl.hpp>

namespace vggtl {

dnnl::engine& onednn_cpu_engine();

}  // namespace vggtl
