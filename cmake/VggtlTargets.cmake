# Helpers that turn folders into targets, so that adding a file never needs a CMake edit.
#   vggtl_add_library(name dir...): every dir/*.cpp (and dir/*.cu, dir/*_cuda.cpp with CUDA) of
#   each folder given (a library whose files are grouped in sub-folders names each of them).
#   vggtl_add_test(source libs...): one GoogleTest binary per tests/**/test_*.cpp; suites whose
#   name contains "Gpu" get the CTest label gpu, all others the label cpu.

set(VGGTL_WARNINGS -Wall -Wextra -Wshadow -Wno-unused-parameter)

function(vggtl_sources out dir)
  file(GLOB _cpp CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cpp)
  file(GLOB _cu CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${dir}/*.cu)
  set(_all)
  foreach(f ${_cpp})
    if(f MATCHES "_cuda\\.cpp$" AND NOT VGGTL_HAVE_CUDA)
      continue()
    endif()
    list(APPEND _all ${f})
  endforeach()
  if(VGGTL_HAVE_CUDA)
    list(APPEND _all ${_cu})
  endif()
  set(${out} ${_all} PARENT_SCOPE)
endfunction()

function(vggtl_add_library name)
  set(_src)
  foreach(dir ${ARGN})
    vggtl_sources(_dir_src ${dir})
    list(APPEND _src ${_dir_src})
  endforeach()
  add_library(${name} STATIC ${_src} ${PROJECT_SOURCE_DIR}/cmake/empty.cpp)
  target_compile_options(${name} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${VGGTL_WARNINGS}>)
  if(VGGTL_HAVE_CUDA)
    set_target_properties(${name} PROPERTIES CUDA_SEPARABLE_COMPILATION OFF)
  endif()
endfunction()
