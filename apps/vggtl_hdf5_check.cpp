// vggtl_hdf5_check: reads one untrusted HDF5 file the way the tools will, in a process of its
// own, so that a file that crashes or hangs libhdf5 takes down only this program
// (io/hdf5/hdf5_precheck.h). The tools start it; it is no command for users, though
// `vggtl_hdf5_check weights FILE; echo $?` answers whether a file is sound.
#include "io/hdf5/hdf5_precheck.h"

int main(int argc, char** argv) { return vggtl::hdf5_check_main(argc, argv); }
