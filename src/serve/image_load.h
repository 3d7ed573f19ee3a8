// Image payloads for `vitrt perf --images`: /v1/embeddings requests that carry encoded photos
// as base64 data URIs (the shape the server documents), the check every answer must pass, and
// the decode+preprocess rate of the server's image path on N threads (`vitrt perf
// --decode-only`), which bounds what a CPU-decoding server can deliver whatever the GPU does.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "serve/load_generator.h"
#include "vision/preprocessor_config.h"
#include "vitrt/status.h"

namespace vitrt::serve {

struct ImageFile {
  std::string path;
  std::string bytes;     // the encoded file
  std::string data_uri;  // data:image/<type>;base64,...
};

// Reads the images named by `paths`: files as given, folders as their image
// files sorted by name. Errors name the path that is missing, unreadable or not an image file.
Result<std::vector<ImageFile>> read_image_files(const std::vector<std::string>& paths);

// One /v1/embeddings request per file, with `per_request` images each: request i carries files
// i, i+1, ... (wrapping around), so that sending the requests round robin sends every file
// equally often. Answers come as base64 float32 (the smallest answer to read and check).
std::vector<LoadRequest> make_embedding_requests(const std::string& model,
                                                 const std::vector<ImageFile>& files,
                                                 int per_request);

// Checks a /v1/embeddings answer: a "data" list of `items` entries with "index" 0..items-1,
// each a base64 float32 embedding of `dim` values (dim 0: any, but the same for every entry),
// finite and of unit length (the server L2-normalises). Returns the embedding size.
Result<int64_t> check_embeddings_reply(const std::string& body, int64_t items, int64_t dim);

// The server's per-image work, from the data URI to the float32 pixels the vision tower takes:
// base64 decode, image decode, EXIF orientation, CLIPImageProcessor preprocessing.
Status decode_and_preprocess(const std::string& data_uri, const vision::PreprocessorConfig& config,
                             std::vector<float>& pixels);

struct DecodeRate {
  int threads = 0;
  int64_t images = 0;
  double seconds = 0;
  double images_per_s = 0;
};

// Runs decode_and_preprocess over `files` round robin on `threads` threads for about
// `duration_s` seconds. The first failing image's error is returned.
Result<DecodeRate> measure_decode_rate(const std::vector<ImageFile>& files,
                                       const vision::PreprocessorConfig& config, int threads,
                                       double duration_s);

}  // namespace vitrt::serve
