// `vitrt bench --contexts N` and `--devices` (multi-GPU benchmarking) through the binary: the
// aggregate of several contexts at once in the JSON line, and usage errors naming the flag on a
// machine without a GPU.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "testing/vitrt_cli.h"

namespace vitrt {
namespace {

namespace fs = std::filesystem;

using testing::CliOutput;
using testing::run_vitrt;

const std::string kTinyMatmul = std::string(VITRT_SOURCE_DIR) + "/tests/data/cli/tiny_matmul.onnx";

class BenchDevicesCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("vitrt_bench_devices_" + std::to_string(getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  CliOutput vitrt(const std::string& args) { return run_vitrt(args, dir_); }

  fs::path dir_;
};

TEST_F(BenchDevicesCli, ContextsRunTogetherAndReportTheAggregate) {
  const CliOutput r =
      vitrt("bench '" + kTinyMatmul + "' --batch 4 --contexts 3 --iterations 5 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("cpu: 3 context(s)"), std::string::npos) << r.out;
  const std::string last = r.out.substr(r.out.rfind('{'));
  const auto doc = nlohmann::json::parse(last, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << last;
  EXPECT_EQ(doc["contexts"], 3);
  EXPECT_EQ(doc["devices"], nlohmann::json::array({0}));
  EXPECT_EQ(doc["iterations"], 5);
  ASSERT_EQ(doc["per_device"].size(), 1u);
  EXPECT_GT(doc["per_device"][0].get<double>(), 0);
  EXPECT_GT(doc["throughput"].get<double>(), 0);
}

TEST_F(BenchDevicesCli, DeviceListErrorsAreUsageErrors) {
  const std::pair<std::string, std::string> cases[] = {
      {"--devices 0", "--devices needs --device cuda"},
      {"--device cuda --devices 0,x", "'x' is not a device index"},
      {"--contexts 0", "--contexts"},
      // Accepted and silently ignored before: the contexts then timed their transfers too.
      {"--contexts 2 --no-data-transfers", "--no-data-transfers needs --device cuda"},
  };
  for (const auto& [flags, message] : cases) {
    const CliOutput r = vitrt("bench '" + kTinyMatmul + "' " + flags);
    EXPECT_EQ(r.exit_code, 2) << flags << ": " << r.err;
    EXPECT_NE(r.err.find(message), std::string::npos) << flags << ": " << r.err;
  }
}

}  // namespace
}  // namespace vitrt
