// --calib-data through calibrate(): the layouts of vision::data_layout, the same rule as
// `vitrt eval --data` (one kind per folder), and errors that name the folder.
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>

#include "core/npy.h"
#include "quant/calibrator.h"
#include "testing/test_graph.h"

namespace vitrt::quant {
namespace {

namespace fs = std::filesystem;

class CalibrationData : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs the tests of this suite in parallel.
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("vitrt_calibration_data_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    x_ = g_.input("x", DType::kFloat32, {2, 3});
    y_ = g_.op("Relu", {x_}, {}, "", "relu");
    g_.output(y_);
    ASSERT_TRUE(g_.infer().ok());
  }
  void TearDown() override { fs::remove_all(dir_); }

  void write(const fs::path& path, float scale) const {
    Tensor shaped = Tensor::empty(DType::kFloat32, {2, 3});
    const float values[] = {scale, -scale, 2 * scale, 0.0f, 0.5f, -1.0f};
    std::copy(values, values + 6, shaped.data<float>());
    ASSERT_TRUE(write_npy_file(path.string(), shaped).ok());
  }
  Result<Histograms> run() const {
    CalibrationOptions o;
    o.data_dir = dir_.string();
    return calibrate(g_.graph(), {g_.graph().values[y_].name}, o);
  }

  testing::TestGraph g_;
  ValueId x_ = 0, y_ = 0;
  fs::path dir_;
};

TEST_F(CalibrationData, NpyFilesAndSampleFoldersEachCalibrate) {
  write(dir_ / "b.npy", 3.0f);
  write(dir_ / "a.npy", 1.0f);
  write(dir_ / ".hidden.npy", 100.0f);  // skipped: its 200 would set amax
  Result<Histograms> h = run();
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  const AbsHistogram& relu = h->begin()->second;
  EXPECT_EQ(relu.total(), 12u);  // two files of six values
  EXPECT_FLOAT_EQ(relu.amax(), 6.0f);

  fs::remove_all(dir_);
  fs::create_directories(dir_ / "s0");
  fs::create_directories(dir_ / "s1");
  write(dir_ / "s0" / "x.npy", 1.0f);
  write(dir_ / "s1" / "x.npy", 2.0f);
  h = run();
  ASSERT_TRUE(h.ok()) << h.status().to_string();
  EXPECT_EQ(h->begin()->second.total(), 12u);
  EXPECT_FLOAT_EQ(h->begin()->second.amax(), 4.0f);
}

// Mixing was accepted here before (a stray .npy or folder became a run of its own); now refused
// as by eval.
TEST_F(CalibrationData, MixedKindsAreRefusedLikeEval) {
  write(dir_ / "x0.npy", 1.0f);
  fs::create_directories(dir_ / "s0");
  write(dir_ / "s0" / "x.npy", 1.0f);
  Result<Histograms> h = run();
  ASSERT_FALSE(h.ok());
  EXPECT_NE(h.status().message().find("--calib-data '" + dir_.string() +
                                      "' holds both .npy files ('x0.npy') and sub-folders ('s0')"),
            std::string::npos)
      << h.status().message();
}

TEST_F(CalibrationData, ErrorsNameTheFolder) {
  Result<Histograms> empty = run();
  ASSERT_FALSE(empty.ok());
  EXPECT_NE(empty.status().message().find("--calib-data '" + dir_.string() + "' holds no data"),
            std::string::npos)
      << empty.status().message();

  fs::create_directories(dir_ / "s0");
  write(dir_ / "s0" / "y.npy", 1.0f);
  Result<Histograms> wrong_name = run();
  ASSERT_FALSE(wrong_name.ok());
  EXPECT_NE(wrong_name.status().message().find("calibration sample folder '" +
                                               (dir_ / "s0").string() + "' has no 'x.npy'"),
            std::string::npos)
      << wrong_name.status().message();

  CalibrationOptions o;
  o.data_dir = (dir_ / "s0" / "y.npy").string();
  Result<Histograms> file = calibrate(g_.graph(), {g_.graph().values[y_].name}, o);
  ASSERT_FALSE(file.ok());
  EXPECT_EQ(file.status().message(), "--calib-data '" + o.data_dir + "' is not a folder");
}

// A cache that lacks a value the build needs: an error without data that says what to do; with
// data, a new calibration whose cache keeps the values the old one held.
TEST_F(CalibrationData, ACacheWithoutARequiredValueIsCalibratedAgainOnData) {
  fs::create_directories(dir_ / "data");
  write(dir_ / "data" / "a.npy", 3.0f);
  const std::string x = g_.graph().values[x_].name;
  const std::string y = g_.graph().values[y_].name;
  CalibrationOptions o;
  o.data_dir = (dir_ / "data").string();
  o.cache_path = (dir_ / "calib.cache").string();
  Result<Histograms> first = calibrate(g_.graph(), {x}, o);  // writes a cache of x alone
  ASSERT_TRUE(first.ok()) << first.status().to_string();
  ASSERT_EQ(first->size(), 1u);

  CalibrationOptions cache_only;
  cache_only.cache_path = o.cache_path;
  Result<Histograms> refused = calibrate(g_.graph(), {y}, cache_only);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("has no data for '" + y + "'"), std::string::npos)
      << refused.status().message();
  EXPECT_NE(refused.status().message().find("--calib-data"), std::string::npos)
      << refused.status().message();

  std::vector<std::string> lines;
  o.log = [&](const std::string& line) { lines.push_back(line); };
  Result<Histograms> again = calibrate(g_.graph(), {y}, o);
  ASSERT_TRUE(again.ok()) << again.status().to_string();
  ASSERT_EQ(again->count(y), 1u);
  EXPECT_FLOAT_EQ(again->at(y).amax(), 6.0f);  // relu of {3, -3, 6, 0, 0.5, -1}
  EXPECT_EQ(again->count(x), 1u);              // kept from the old cache's values
  EXPECT_TRUE(std::any_of(lines.begin(), lines.end(), [](const std::string& l) {
    return l.find("calibrating again") != std::string::npos;
  }));
  Result<Histograms> written = read_calibration_cache(o.cache_path, graph_fingerprint(g_.graph()));
  ASSERT_TRUE(written.ok()) << written.status().to_string();
  EXPECT_EQ(written->size(), 2u);
  EXPECT_FLOAT_EQ(written->at(x).amax(), 6.0f);
  EXPECT_FALSE(fs::exists(o.cache_path + ".partial"));
}

// A cache that cannot be written leaves the old one as it was.
TEST_F(CalibrationData, AFailedCacheWriteKeepsTheOldCache) {
  const fs::path path = dir_ / "calib.cache";
  Histograms one;
  one[g_.graph().values[y_].name];
  ASSERT_TRUE(write_calibration_cache(path.string(), 42, one).ok());
  fs::create_directories(path.string() + ".partial");  // the temporary file cannot be made
  Histograms two = one;
  two[g_.graph().values[x_].name];
  Status failed = write_calibration_cache(path.string(), 42, two);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.message().find("cannot write the calibration cache '" + path.string() + "'"),
            std::string::npos)
      << failed.message();
  Result<Histograms> kept = read_calibration_cache(path.string(), 42);
  ASSERT_TRUE(kept.ok()) << kept.status().to_string();
  EXPECT_EQ(kept->size(), 1u);
}

}  // namespace
}  // namespace vitrt::quant
