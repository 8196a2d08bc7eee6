// The CTest labels follow the suite names (tests/CMakeLists.txt: a suite whose name contains "Gpu"
// is labelled gpu, any other cpu), so this reads every test source: each test of a Gpu suite must
// begin with REQUIRE_CUDA_DEVICE(), and no other test may ask for a device.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace vggtl {
namespace {

struct TestCase {
  std::string where;  // file:line
  std::string suite;
  std::string first_statement;
  bool asks_for_device = false;
};

std::string trimmed(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  return s.substr(a, s.find_last_not_of(" \t\r") + 1 - a);
}

// The tests defined in the sources under tests/: a TEST or TEST_F line at column 0 opens a body
// that the first "}" at column 0 closes, or that ends on the same line (the layouts clang-format
// gives the tests here).
std::vector<TestCase> test_cases() {
  const std::regex head(R"(^TEST(_F)?\((\w+), *\w+\))");
  std::vector<TestCase> cases;
  const std::filesystem::path root = std::filesystem::path(VGGTL_SOURCE_DIR) / "tests";
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    if (e.path().extension() != ".cpp") continue;
    std::ifstream in(e.path());
    std::vector<std::string> lines;
    for (std::string l; std::getline(in, l);) lines.push_back(l);
    for (size_t i = 0; i < lines.size(); ++i) {
      std::smatch m;
      if (!std::regex_search(lines[i], m, head)) continue;
      TestCase c;
      c.where = e.path().lexically_relative(root).string() + ":" + std::to_string(i + 1);
      c.suite = m[2];
      std::vector<std::string> body;
      const std::string rest = trimmed(m.suffix());
      if (rest.size() > 2 && rest.back() == '}')  // TEST(S, N) { one_statement(); }
        body.push_back(rest.substr(1, rest.size() - 2));
      else
        for (size_t j = i + 1; j < lines.size() && lines[j].rfind('}', 0) != 0; ++j)
          body.push_back(lines[j]);
      for (const std::string& line : body) {
        const std::string t = trimmed(line);
        if (c.first_statement.empty() && !t.empty() && t.rfind("//", 0) != 0) c.first_statement = t;
        c.asks_for_device |= t.rfind("REQUIRE_CUDA_DEVICE(", 0) == 0;
      }
      cases.push_back(c);
    }
  }
  return cases;
}

TEST(TestLabels, GpuSuitesHoldExactlyTheTestsThatNeedADevice) {
  const std::vector<TestCase> cases = test_cases();
  ASSERT_GT(cases.size(), 100u) << "the scan of " << VGGTL_SOURCE_DIR << "/tests found too few";
  for (const TestCase& c : cases) {
    if (c.suite.find("Gpu") != std::string::npos)
      EXPECT_EQ(c.first_statement, "REQUIRE_CUDA_DEVICE();")
          << c.where << ": labelled gpu (suite " << c.suite << ") but does not need a device";
    else
      EXPECT_FALSE(c.asks_for_device)
          << c.where << ": needs a device but is labelled cpu (suite " << c.suite << ")";
  }
}

}  // namespace
}  // namespace vggtl
