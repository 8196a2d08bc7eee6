// Error macros keep their messages and stay on in Release builds.
#include <gtest/gtest.h>

#include "engine/device.h"
#include "engine/error.h"
#include "engine/log.h"
#include "test_util.h"

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

TEST(Error, InputErrorHasBadInputKind) {
  try {
    throw InputError("data/train: no such folder");
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::BadInput);
    EXPECT_STREQ(e.what(), "data/train: no such folder");
  }
}

TEST(Device, SelectionFollowsAvailability) {
  EXPECT_EQ(select_device("cpu"), Device::cpu());
  EXPECT_THROW(select_device("tpu"), InputError);
  std::string note;
  Device d = select_device("auto", &note);
  if (cuda_available()) {
    EXPECT_TRUE(d.is_cuda());
    EXPECT_NO_THROW(select_device("cuda"));
  } else {
    EXPECT_TRUE(d.is_cpu());
    EXPECT_FALSE(note.empty());
    EXPECT_THROW(select_device("cuda"), InputError);
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
