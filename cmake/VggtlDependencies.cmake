# Third-party libraries, all from the distribution's -dev packages (scripts/install_deps.sh).
set(THREADS_PREFER_PTHREAD_FLAG ON)
find_package(Threads REQUIRED)
find_package(PNG REQUIRED)
find_package(ZLIB REQUIRED)
find_package(TIFF REQUIRED)  # TIFF decoding (io/image/decode_tiff.cpp)
find_package(OpenSSL REQUIRED COMPONENTS Crypto)

# HDF5 C library. The serial flavour is what Debian installs by default.
find_package(HDF5 REQUIRED COMPONENTS C)
add_library(vggtl_hdf5 INTERFACE)
target_include_directories(vggtl_hdf5 SYSTEM INTERFACE ${HDF5_C_INCLUDE_DIRS} ${HDF5_INCLUDE_DIRS})
target_link_libraries(vggtl_hdf5 INTERFACE ${HDF5_C_LIBRARIES})
target_compile_definitions(vggtl_hdf5 INTERFACE ${HDF5_DEFINITIONS} H5_USE_110_API)
add_library(vggtl::hdf5 ALIAS vggtl_hdf5)

# libzip: the .keras archives of Keras 3 (io/keras3/).
find_package(PkgConfig REQUIRED)
pkg_check_modules(LIBZIP REQUIRED IMPORTED_TARGET libzip)
add_library(vggtl_zip INTERFACE)
target_link_libraries(vggtl_zip INTERFACE PkgConfig::LIBZIP)
add_library(vggtl::zip ALIAS vggtl_zip)

# libjpeg-turbo through its libjpeg API (coefficient access is needed for the GPU path).
find_package(JPEG REQUIRED)
add_library(vggtl_jpeg INTERFACE)
target_link_libraries(vggtl_jpeg INTERFACE JPEG::JPEG)
add_library(vggtl::jpeg ALIAS vggtl_jpeg)

# CPU backend: oneDNN. Measured against im2col + OpenBLAS sgemm on the VGG shapes it was
# 4-7x faster (docs/performance.md, bench/bench_conv2d.cpp); its sgemm serves the Dense layers.
find_path(DNNL_INCLUDE_DIR dnnl.hpp)
find_library(DNNL_LIBRARY NAMES dnnl)
if(NOT DNNL_INCLUDE_DIR OR NOT DNNL_LIBRARY)
  message(FATAL_ERROR "oneDNN not found: install libdnnl-dev (scripts/install_deps.sh)")
endif()
add_library(vggtl_cpu_blas INTERFACE)
target_include_directories(vggtl_cpu_blas SYSTEM INTERFACE ${DNNL_INCLUDE_DIR})
target_link_libraries(vggtl_cpu_blas INTERFACE ${DNNL_LIBRARY})
add_library(vggtl::cpu_blas ALIAS vggtl_cpu_blas)

# Optional: OpenBLAS, only for the CPU backend comparison benchmark.
find_library(OPENBLAS_LIBRARY NAMES openblas)
find_path(OPENBLAS_INCLUDE_DIR cblas.h PATH_SUFFIXES openblas)

# MPI (Open MPI or any MPI-3 library), only for the scale-out of the apps (apps/pipeline/cluster.h).
set(VGGTL_HAVE_MPI OFF)
string(TOUPPER "${VGGTL_MPI}" _vggtl_mpi)
if(NOT _vggtl_mpi STREQUAL "OFF" AND NOT VGGTL_FUZZ)
  find_package(MPI COMPONENTS CXX)
  if(MPI_CXX_FOUND)
    set(VGGTL_HAVE_MPI ON)
  elseif(_vggtl_mpi STREQUAL "ON")
    message(FATAL_ERROR "VGGTL_MPI=ON but no MPI C++ library was found (install libopenmpi-dev)")
  else()
    message(STATUS "MPI not found: the tools run as single processes only")
  endif()
endif()

# ONNX models in and out (io/onnx): the ONNX project's generated protobuf classes (libonnx-dev,
# target onnx_proto) on the distribution's protobuf; ONNXConfig.cmake does not look for it.
find_package(Protobuf REQUIRED)
find_package(ONNX CONFIG REQUIRED)
if(NOT TARGET onnx_proto)
  message(FATAL_ERROR "libonnx-dev's CMake package has no onnx_proto target (scripts/install_deps.sh)")
endif()

find_package(CLI11 CONFIG REQUIRED)
find_package(nlohmann_json CONFIG REQUIRED)
if(VGGTL_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
