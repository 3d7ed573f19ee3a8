// The one listing of data folders behind --calib-data, eval --data, the clip image arguments and
// perf --images: order, hidden entries, extension case, the layout rule and the errors.
#include "vision/data_folder.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace vitrt::vision {
namespace {

namespace fs = std::filesystem;

class DataFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // One folder per test: ctest runs the tests of this suite in parallel.
    dir_ = fs::path(::testing::TempDir()) /
           (std::string("vitrt_data_folder_") +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  void touch(const std::string& name) const { std::ofstream(dir_ / name) << "x"; }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  fs::path dir_;
};

TEST_F(DataFolderTest, SortsEachKindByNameAndLeavesOtherFilesOut) {
  for (const char* name :
       {"b.png", "a.JPG", "c.Jpeg", "B.webp", "d.gif", "e.BMP", "f.tif", "g.tiff", "x1.npy",
        "x0.NPY", "labels.txt", "README", "jpg", "photo.jpg.txt", "h.heic"}) {
    touch(name);
  }
  fs::create_directories(dir_ / "s1");
  fs::create_directories(dir_ / "s0");
  Result<DataFolder> f = list_data_folder(dir_.string(), "data folder");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->path, dir_.string());
  // Byte order of the names: upper case first, whatever order the file system lists.
  EXPECT_EQ(f->images, (std::vector<std::string>{path("B.webp"), path("a.JPG"), path("b.png"),
                                                 path("c.Jpeg"), path("d.gif"), path("e.BMP"),
                                                 path("f.tif"), path("g.tiff")}));
  EXPECT_EQ(f->npy_files, (std::vector<std::string>{path("x0.NPY"), path("x1.npy")}));
  EXPECT_EQ(f->folders, (std::vector<std::string>{path("s0"), path("s1")}));
}

TEST_F(DataFolderTest, SkipsHiddenFilesAndFolders) {
  touch("a.png");
  touch("._a.png");  // macOS resource fork: not an image
  touch(".x.npy");
  touch(".DS_Store");
  fs::create_directories(dir_ / ".ipynb_checkpoints");
  Result<DataFolder> f = list_data_folder(dir_.string(), "data folder");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(f->images, std::vector<std::string>{path("a.png")});
  EXPECT_TRUE(f->npy_files.empty());
  EXPECT_TRUE(f->folders.empty());
  Result<DataLayout> layout = data_layout(*f, "data folder");
  ASSERT_TRUE(layout.ok()) << layout.status().to_string();
  EXPECT_EQ(*layout, DataLayout::kImages);
}

TEST_F(DataFolderTest, EmptyFolderHasNoLayout) {
  touch("notes.txt");
  Result<DataFolder> f = list_data_folder(dir_.string(), "--calib-data");
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_TRUE(f->images.empty() && f->npy_files.empty() && f->folders.empty());
  Result<DataLayout> layout = data_layout(*f, "--calib-data");
  ASSERT_FALSE(layout.ok());
  const std::string& m = layout.status().message();
  EXPECT_NE(m.find("--calib-data '" + dir_.string() + "' holds no data"), std::string::npos) << m;
  EXPECT_NE(m.find(".npy files"), std::string::npos) << m;
}

TEST_F(DataFolderTest, NotAFolder) {
  touch("a.png");
  for (const std::string& p : {path("a.png"), path("missing")}) {
    Result<DataFolder> f = list_data_folder(p, "data folder");
    ASSERT_FALSE(f.ok()) << p;
    EXPECT_EQ(f.status().message(), "data folder '" + p + "' is not a folder");
  }
}

TEST_F(DataFolderTest, EachLayoutAlone) {
  struct Case {
    std::vector<std::string> files;
    DataLayout layout;
  };
  int n = 0;
  for (const Case& c :
       {Case{{"a.png", "b.webp"}, DataLayout::kImages}, Case{{"x.npy"}, DataLayout::kNpyFiles},
        Case{{"s/"}, DataLayout::kSampleFolders}}) {
    const fs::path sub = dir_ / std::to_string(n++);
    fs::create_directories(sub);
    for (const std::string& name : c.files) {
      if (name.back() == '/') {
        fs::create_directories(sub / name);
      } else {
        std::ofstream(sub / name) << "x";
      }
    }
    std::ofstream(sub / "labels.txt") << "1";  // other files never count
    Result<DataFolder> f = list_data_folder(sub.string(), "data folder");
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    Result<DataLayout> layout = data_layout(*f, "data folder");
    ASSERT_TRUE(layout.ok()) << layout.status().to_string();
    EXPECT_EQ(*layout, c.layout) << sub;
  }
}

// One kind per folder, for calibration and evaluation alike: a second kind is refused, naming
// the folder, both kinds and one entry of each.
TEST_F(DataFolderTest, MixedKindsAreRefused) {
  touch("a.png");
  touch("x.npy");
  Result<DataFolder> f = list_data_folder(dir_.string(), "--calib-data");
  ASSERT_TRUE(f.ok());
  Result<DataLayout> layout = data_layout(*f, "--calib-data");
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.status().message().find("--calib-data '" + dir_.string() +
                                           "' holds both images ('a.png') and .npy files "
                                           "('x.npy'); keep one kind per folder"),
            std::string::npos)
      << layout.status().message();

  fs::remove(dir_ / "a.png");
  fs::create_directories(dir_ / "sample0");
  f = list_data_folder(dir_.string(), "data folder");
  ASSERT_TRUE(f.ok());
  layout = data_layout(*f, "data folder");
  ASSERT_FALSE(layout.ok());
  EXPECT_NE(layout.status().message().find("holds both .npy files ('x.npy') and sub-folders "
                                           "('sample0')"),
            std::string::npos)
      << layout.status().message();
}

TEST_F(DataFolderTest, ExpandImagePaths) {
  touch("b.png");
  touch("a.jpeg");
  touch("x.npy");
  touch("notes.txt");
  fs::create_directories(dir_ / "more");
  std::ofstream(dir_ / "more" / "c.webp") << "x";
  // Files stay as given (their decoder judges them), in argument order; folders become their
  // sorted images, not recursively.
  Result<std::vector<std::string>> files =
      expand_image_paths({path("notes.txt"), dir_.string(), (dir_ / "more").string()});
  ASSERT_TRUE(files.ok()) << files.status().to_string();
  EXPECT_EQ(*files, (std::vector<std::string>{path("notes.txt"), path("a.jpeg"), path("b.png"),
                                              (dir_ / "more" / "c.webp").string()}));

  Result<std::vector<std::string>> missing = expand_image_paths({path("none.jpg")});
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "image path '" + path("none.jpg") + "': no such file or folder");

  fs::create_directories(dir_ / "empty");
  std::ofstream(dir_ / "empty" / "._a.jpg") << "x";
  Result<std::vector<std::string>> empty = expand_image_paths({(dir_ / "empty").string()});
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().message(),
            "image folder '" + (dir_ / "empty").string() +
                "' has no image file (.jpg .jpeg .png .webp .gif .bmp .tif .tiff .avif)");

  Result<std::vector<std::string>> none = expand_image_paths({});
  ASSERT_FALSE(none.ok());
  EXPECT_EQ(none.status().message(), "no images given");
}

}  // namespace
}  // namespace vitrt::vision
