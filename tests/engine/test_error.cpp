// Error macros keep their messages and stay on in Release builds.
#include <gtest/gtest.h>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "test_util.h"

#if VGGTL_HAVE_CUDA
#include "engine/cuda_check.h"
#endif

namespace vggtl {

TEST(Error, CheckThrowsWithMessageFileAndLine) {
  try {
    int batch = 31;
    VGGTL_CHECK(batch % 2 == 0, "batch ", batch, " is odd");
    FAIL() << "VGGTL_CHECK did not throw";
  } catch (const Error& e) {
    std::string what = e.what();
    EXPECT_NE(what.find("batch 31 is odd"), std::string::npos) << what;
    EXPECT_NE(what.find("test_error.cpp:"), std::string::npos) << what;
    EXPECT_NE(what.find("batch % 2 == 0"), std::string::npos) << what;
    EXPECT_EQ(e.kind(), ErrorKind::Internal);
  }
}

#if VGGTL_HAVE_CUDA
// The library checks need no GPU: a failed status is a value. Each message names the library,
// the code, the library's own text, the statement and where it was.
TEST(Error, LibraryChecksNameLibraryCodeStatementAndPlace) {
  const std::string cuda = test::error_of([] { CUDA_CHECK(cudaErrorInvalidValue); });
  EXPECT_NE(cuda.find("CUDA error 1 ("), std::string::npos) << cuda;
  EXPECT_NE(cuda.find(cudaGetErrorString(cudaErrorInvalidValue)), std::string::npos) << cuda;
  EXPECT_NE(cuda.find("'cudaErrorInvalidValue' at test_error.cpp:"), std::string::npos) << cuda;
  const std::string cublas = test::error_of([] { CUBLAS_CHECK(CUBLAS_STATUS_INVALID_VALUE); });
  EXPECT_NE(cublas.find("cuBLAS error 7 ("), std::string::npos) << cublas;
  EXPECT_NE(cublas.find(cublas_library().status_string(CUBLAS_STATUS_INVALID_VALUE)), std::string::npos)
      << cublas;
  const std::string cudnn = test::error_of([] { CUDNN_CHECK(CUDNN_STATUS_BAD_PARAM); });
  EXPECT_NE(cudnn.find("cuDNN error 2000 ("), std::string::npos) << cudnn;
  EXPECT_NE(cudnn.find(cudnnGetErrorString(CUDNN_STATUS_BAD_PARAM)), std::string::npos) << cudnn;
  EXPECT_EQ(test::error_of([] { CUDA_CHECK(cudaSuccess); }), "(no error)");
}

// cuBLAS is opened on first use, by the name of the headers' major version, and answers without
// a GPU.
TEST(Error, CublasOpensOnFirstUseAndAnswersItsVersion) {
  const CublasLibrary& lib = cublas_library();
  EXPECT_EQ(lib.file, "libcublas.so." + std::to_string(CUBLAS_VER_MAJOR));
  EXPECT_EQ(cublas_version_text(false).rfind(std::to_string(CUBLAS_VER_MAJOR) + ".", 0), 0u)
      << cublas_version_text(false);
  EXPECT_EQ(cublas_status_text(CUBLAS_STATUS_NOT_INITIALIZED), lib.status_string(CUBLAS_STATUS_NOT_INITIALIZED));
}

// CUDA_WARN is for destructors: it logs the same message and returns.
TEST(Error, CudaWarnLogsInsteadOfThrowing) {
  testing::internal::CaptureStderr();
  EXPECT_NO_THROW(CUDA_WARN(cudaErrorInvalidValue));
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("CUDA error 1 ("), std::string::npos) << out;
  EXPECT_NE(out.find("test_error.cpp:"), std::string::npos) << out;
}
#endif

TEST(Error, InputErrorHasBadInputKind) {
  try {
    throw InputError("data/train: no such folder");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_STREQ(e.what(), "data/train: no such folder");
  }
}

TEST(Device, SelectionFollowsAvailability) {
  EXPECT_EQ(select_device(DeviceChoice::Cpu), Device::cpu());
  std::string note;
  Device d = select_device(DeviceChoice::Auto, &note);
  if (cuda_available()) {
    EXPECT_TRUE(d.is_cuda());
    EXPECT_NO_THROW(select_device(DeviceChoice::Cuda));
  } else {
    EXPECT_TRUE(d.is_cpu());
    const CudaRuntimeInfo& info = cuda_runtime_info();
    EXPECT_EQ(note, !info.built   ? "this build has no CUDA backend; using the CPU"
                    : info.no_gpu ? "no GPU found; using the CPU"
                                  : "using the CPU: " + info.unusable_reason);
    // A machine with no driver is one without a GPU, not a fault to report in detail.
    if (info.built && info.driver_version == 0) {
      EXPECT_TRUE(info.no_gpu);
    }
    try {
      select_device(DeviceChoice::Cuda);
      ADD_FAILURE() << "--device cuda accepted without a GPU";
    } catch (const InputError& e) {
      EXPECT_EQ(std::string(e.what()), "--device cuda: " + cuda_runtime_info().unusable_reason);
    }
  }
}

TEST(Device, VersionReportNamesBackends) {
  const std::string r = version_report();
  EXPECT_NE(r.find("vggtl "), std::string::npos);
  EXPECT_NE(r.find("cuda backend:"), std::string::npos);
}

TEST(Log, CountedWarningsAreSummarised) {
  testing::internal::CaptureStderr();
  for (int i = 0; i < 10; ++i) log_warning_counted("bad image", "bad image " + std::to_string(i), 2);
  log_flush_counted_warnings();
  const std::string out = testing::internal::GetCapturedStderr();
  EXPECT_NE(out.find("bad image 1"), std::string::npos);
  EXPECT_EQ(out.find("bad image 2\n"), std::string::npos);
  EXPECT_NE(out.find("8 more 'bad image' warnings"), std::string::npos) << out;
}

}  // namespace vggtl
