#include "vision/data_folder.h"

#include <algorithm>
#include <cctype>
#include <filesystem>

#include "vision/image_decode.h"

namespace vitrt::vision {
namespace {

namespace fs = std::filesystem;

bool is_npy(const fs::path& path) {
  std::string ext = path.extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext == ".npy";
}

}  // namespace

Result<DataFolder> list_data_folder(const std::string& dir, const std::string& what) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return not_found(what, " '", dir, "' is not a folder");
  DataFolder folder;
  folder.path = dir;
  fs::directory_iterator it(dir, ec);
  for (; !ec && it != fs::directory_iterator(); it.increment(ec)) {
    const fs::directory_entry& e = *it;
    if (e.path().filename().string().starts_with(".")) continue;
    // is_directory/is_regular_file follow symbolic links: a linked data set is listed as its
    // target. An entry whose status cannot be read is neither and is left out.
    std::error_code status_ec;
    if (e.is_directory(status_ec)) {
      folder.folders.push_back(e.path().string());
    } else if (e.is_regular_file(status_ec)) {
      if (is_npy(e.path())) {
        folder.npy_files.push_back(e.path().string());
      } else if (has_image_extension(e.path().string())) {
        folder.images.push_back(e.path().string());
      }
    }
  }
  if (ec) return io_error("cannot list ", what, " '", dir, "': ", ec.message());
  std::sort(folder.images.begin(), folder.images.end());
  std::sort(folder.npy_files.begin(), folder.npy_files.end());
  std::sort(folder.folders.begin(), folder.folders.end());
  return folder;
}

Result<DataLayout> data_layout(const DataFolder& folder, const std::string& what) {
  struct Kind {
    DataLayout layout;
    const char* name;
    const std::vector<std::string>* entries;
  };
  const Kind kinds[] = {{DataLayout::kImages, "images", &folder.images},
                        {DataLayout::kNpyFiles, ".npy files", &folder.npy_files},
                        {DataLayout::kSampleFolders, "sub-folders", &folder.folders}};
  const Kind* found = nullptr;
  for (const Kind& kind : kinds) {
    if (kind.entries->empty()) continue;
    if (found) {
      return invalid_argument(
          what, " '", folder.path, "' holds both ", found->name, " ('",
          fs::path(found->entries->front()).filename().string(), "') and ", kind.name, " ('",
          fs::path(kind.entries->front()).filename().string(),
          "'); keep one kind per folder: images, .npy files, or sub-folders of NAME.npy per "
          "model input");
    }
    found = &kind;
  }
  if (!found) {
    return not_found(what, " '", folder.path, "' holds no data: images (", kImageExtensionsText,
                     "), .npy files, or sub-folders "
                     "of NAME.npy per model input");
  }
  return found->layout;
}

Result<std::vector<std::string>> expand_image_paths(const std::vector<std::string>& paths) {
  if (paths.empty()) return invalid_argument("no images given");
  std::vector<std::string> files;
  for (const std::string& path : paths) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      VITRT_ASSIGN_OR_RETURN(DataFolder folder, list_data_folder(path, "image folder"));
      if (folder.images.empty()) {
        return not_found("image folder '", path, "' has no image file (", kImageExtensionsText,
                         ")");
      }
      files.insert(files.end(), folder.images.begin(), folder.images.end());
    } else if (fs::exists(path, ec)) {
      files.push_back(path);
    } else {
      return not_found("image path '", path, "': no such file or folder");
    }
  }
  return files;
}

}  // namespace vitrt::vision
