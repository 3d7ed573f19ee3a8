// One listing of a data folder for every command that reads one: `vitrt build --calib-data`,
// `vitrt eval --data`, the `vitrt clip` image arguments and `vitrt perf --images`.
//
// Entries are sorted by name (byte order, so runs see the same items in the same order on every
// file system). Names starting with '.' are skipped: editors, macOS ("._x.jpg", ".DS_Store") and
// notebooks (".ipynb_checkpoints") leave such files next to data, and a "._x.jpg" is no image.
#pragma once

#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::vision {

struct DataFolder {
  std::string path;
  std::vector<std::string> images;     // kImageExtensions files, any case
  std::vector<std::string> npy_files;  // .npy files, any case
  std::vector<std::string> folders;    // sub-folders
};

// Lists `dir`; other files (labels, READMEs) are left out. `what` names the folder in errors
// (e.g. "--calib-data", "data folder"): "<what> 'DIR' is not a folder", "cannot list ...".
Result<DataFolder> list_data_folder(const std::string& dir, const std::string& what);

// The layouts that calibration and evaluation data take; one kind per folder, so that a stray
// file never silently joins (or drops out of) the data.
enum class DataLayout {
  kImages,         // images, for a one-input image model
  kNpyFiles,       // .npy files: one NAME.npy per input, or batches of any names (one input)
  kSampleFolders,  // sub-folders, each holding NAME.npy per model input
};

// The folder's layout; an error naming the folder when it holds none of the three kinds, or
// more than one (naming one entry of each).
Result<DataLayout> data_layout(const DataFolder& folder, const std::string& what);

// Image arguments as given on a command line: a file stays as it is (its decoder checks it), a
// folder becomes its image files (sorted, as list_data_folder); errors for a path that does not
// exist, a folder without images, and no paths at all.
Result<std::vector<std::string>> expand_image_paths(const std::vector<std::string>& paths);

}  // namespace vitrt::vision
