// Image payloads and answer checks for `vitrt perf --images` (image_load.h).
#include "serve/image_load.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "serve/base64.h"
#include "vision/data_folder.h"
#include "vision/exif_orientation.h"
#include "vision/image_decode.h"
#include "vision/image_preprocess.h"

namespace vitrt::serve {
namespace {

namespace fs = std::filesystem;

std::string lower_extension(const fs::path& path) {
  std::string ext = path.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return ext;
}

// The data URI's media type from the extension; "" for a file that is not an image we send.
std::string media_type(const fs::path& path) {
  const std::string ext = lower_extension(path);
  if (ext == ".jpg" || ext == ".jpeg") return "image/jpeg";
  if (ext == ".png") return "image/png";
  if (ext == ".webp") return "image/webp";
  if (ext == ".gif") return "image/gif";
  if (ext == ".bmp") return "image/bmp";
  if (ext == ".tif" || ext == ".tiff") return "image/tiff";
  if (ext == ".avif") return "image/avif";
  return "";
}

Result<ImageFile> read_image(const fs::path& path) {
  const std::string type = media_type(path);
  if (type.empty()) {
    return invalid_argument("'", path.string(), "' is not an image file (expected ",
                            vision::kImageExtensionsText, ")");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot read '", path.string(), "'");
  ImageFile file;
  file.path = path.string();
  file.bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  if (file.bytes.empty()) return invalid_argument("'", path.string(), "' is empty");
  file.data_uri = "data:" + type + ";base64," + base64_encode(file.bytes);
  return file;
}

}  // namespace

Result<std::vector<ImageFile>> read_image_files(const std::vector<std::string>& paths) {
  VITRT_ASSIGN_OR_RETURN(std::vector<std::string> expanded, vision::expand_image_paths(paths));
  std::vector<ImageFile> files;
  for (const std::string& p : expanded) {
    VITRT_ASSIGN_OR_RETURN(ImageFile file, read_image(p));
    files.push_back(std::move(file));
  }
  return files;
}

std::vector<LoadRequest> make_embedding_requests(const std::string& model,
                                                 const std::vector<ImageFile>& files,
                                                 int per_request) {
  std::vector<LoadRequest> requests;
  for (size_t i = 0; i < files.size(); ++i) {
    nlohmann::json input = nlohmann::json::array();
    for (int k = 0; k < per_request; ++k) {
      input.push_back({{"image", files[(i + static_cast<size_t>(k)) % files.size()].data_uri}});
    }
    nlohmann::json body = {{"model", model}, {"input", input}, {"encoding_format", "base64"}};
    requests.push_back(
        LoadRequest{"/v1/embeddings", body.dump(), {{"Content-Type", "application/json"}}});
  }
  return requests;
}

Result<int64_t> check_embeddings_reply(const std::string& body, int64_t items, int64_t dim) {
  const auto doc = nlohmann::json::parse(body, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("data") || !doc["data"].is_array()) {
    return invalid_argument("answer is not a JSON object with a 'data' list: ",
                            body.substr(0, 120));
  }
  const auto& data = doc["data"];
  if (static_cast<int64_t>(data.size()) != items) {
    return invalid_argument("answer has ", data.size(), " embeddings for ", items, " images");
  }
  for (int64_t i = 0; i < items; ++i) {
    const auto& entry = data[static_cast<size_t>(i)];
    if (!entry.is_object() || !entry.contains("index") || entry["index"] != i ||
        !entry.contains("embedding") || !entry["embedding"].is_string()) {
      return invalid_argument("embedding ", i, ": expected {\"index\": ", i,
                              ", \"embedding\": \"<base64>\"}");
    }
    const std::optional<std::string> bytes =
        base64_decode(entry["embedding"].get_ref<const std::string&>());
    if (!bytes || bytes->empty() || bytes->size() % sizeof(float) != 0) {
      return invalid_argument("embedding ", i, ": not base64 float32 data");
    }
    const int64_t n = static_cast<int64_t>(bytes->size() / sizeof(float));
    if (dim == 0) dim = n;
    if (n != dim) return invalid_argument("embedding ", i, " has ", n, " values, expected ", dim);
    std::vector<float> v(static_cast<size_t>(n));
    std::memcpy(v.data(), bytes->data(), bytes->size());
    double norm = 0;
    for (float x : v) {
      if (!std::isfinite(x)) return invalid_argument("embedding ", i, " has a non-finite value");
      norm += static_cast<double>(x) * x;
    }
    // fp16 towers normalise in float32 on the host, so unit length holds to float precision.
    if (std::abs(std::sqrt(norm) - 1.0) > 1e-3) {
      return invalid_argument("embedding ", i, " has length ", std::sqrt(norm), ", expected 1");
    }
  }
  return dim;
}

Status decode_and_preprocess(const std::string& data_uri, const vision::PreprocessorConfig& config,
                             std::vector<float>& pixels) {
  const size_t comma = data_uri.find(',');
  if (comma == std::string::npos) return invalid_argument("not a data URI");
  const std::optional<std::string> bytes =
      base64_decode(std::string_view(data_uri).substr(comma + 1));
  if (!bytes) return invalid_argument("malformed base64 data");
  VITRT_ASSIGN_OR_RETURN(vision::DecodedImage decoded,
                         vision::decode_image(reinterpret_cast<const uint8_t*>(bytes->data()),
                                              bytes->size(), "image"));
  const vision::Image upright =
      vision::apply_exif_orientation(std::move(decoded.image), decoded.exif_orientation);
  VITRT_ASSIGN_OR_RETURN(vision::Image rgb, vision::preprocess_to_uint8(upright, config));
  pixels.resize(static_cast<size_t>(rgb.width) * static_cast<size_t>(rgb.height) * 3);
  vision::write_pixel_values(rgb, config, pixels.data());
  return Status::ok_status();
}

Result<DecodeRate> measure_decode_rate(const std::vector<ImageFile>& files,
                                       const vision::PreprocessorConfig& config, int threads,
                                       double duration_s) {
  if (files.empty()) return invalid_argument("no image given");
  using Clock = std::chrono::steady_clock;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> done{0};
  std::mutex mutex;
  Status error;
  const Clock::time_point start = Clock::now();
  const Clock::time_point end = start + std::chrono::duration_cast<Clock::duration>(
                                            std::chrono::duration<double>(duration_s));
  auto loop = [&]() {
    std::vector<float> pixels;
    // Each thread decodes at least one image: a thread that starts late on a loaded machine
    // still checks its file and counts (the rate of zero images would mean nothing).
    for (bool first = true; first || Clock::now() < end; first = false) {
      const ImageFile& file = files[static_cast<size_t>(next.fetch_add(1)) % files.size()];
      Status s = decode_and_preprocess(file.data_uri, config, pixels);
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(mutex);
        if (error.ok()) error = s.with_context(file.path);
        return;
      }
      done.fetch_add(1);
    }
  };
  std::vector<std::thread> pool;
  for (int i = 0; i < threads; ++i) pool.emplace_back(loop);
  for (auto& t : pool) t.join();
  if (!error.ok()) return error;
  DecodeRate rate;
  rate.threads = threads;
  rate.images = done.load();
  rate.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  rate.images_per_s = static_cast<double>(rate.images) / rate.seconds;
  return rate;
}

}  // namespace vitrt::serve
