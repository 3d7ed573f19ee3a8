// ClipService: the OpenAI-style endpoints over one ClipModel (vitrt/clip.h).
//
//   POST /v1/embeddings {"model": M, "input": "text" | ["text", ...] |
//                        [{"text": "..."} | {"image": "data:image/png;base64,..."}, ...],
//                        "encoding_format": "float" (default) | "base64"}
//   POST /v1/classify   {"model": M, "images": ["data:...", ...], "labels": ["a dog", ...]}
//   POST /v1/rank       {"model": M, "query": "text" | {"image": "data:..."},
//                        "documents": ["text" | {"text": ...} | {"image": ...}, ...],
//                        "top_n": K (optional)}
//
// Images are decoded and texts tokenized on the caller's (worker pool) thread; the towers run
// behind one DynamicBatcher each, so items of concurrent requests share tower runs (on CUDA,
// image batches padded to a power of two: padded_batch_rows). Errors use OpenAI's shape: {"error":
// {"message": ..., "type": ..., "code": status}}.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "serve/batcher.h"
#include "serve/http_server.h"
#include "serve/metrics.h"
#include "serve/model_config.h"
#include "vitrt/clip.h"

namespace vitrt::serve {

class ClipService {
 public:
  // Every batcher context (config.instance_count) runs on `model`.
  ClipService(std::shared_ptr<const ClipModel> model, const ModelConfig& config);
  // One model per GPU (each loaded there): batcher context i runs on models[context_model[i]]
  // and is labelled context_devices[i] ("cuda:1") in the per-device metrics. Preprocessing and
  // tokenizing use models[0] (they are the same on every GPU).
  ClipService(std::vector<std::shared_ptr<const ClipModel>> models, std::vector<int> context_model,
              std::vector<std::string> context_devices, const ModelConfig& config);
  ~ClipService();

  // Each parses `body`, answers once through `respond` (from any thread). Client faults are
  // 400 (413 for an oversized image) with a JSON error naming the item.
  void embeddings(const nlohmann::json& body, Responder respond);
  void classify(const nlohmann::json& body, Responder respond);
  void rank(const nlohmann::json& body, Responder respond);
  void stop();
  // Where tower runs report queue/infer time and batch sizes (the server's; null: nowhere).
  void set_metrics(Metrics* metrics) { metrics_ = metrics; }

  struct Item {
    bool is_image = false;
    std::string text;  // the text, or the image's encoded bytes
  };

 private:
  // Embeds items through the tower batchers; `done` gets float32 [N, embed_dim] in item order.
  void embed(const std::vector<Item>& items, std::function<void(Result<Tensor>)> done);
  Result<Item> parse_item(const nlohmann::json& value, const std::string& where) const;

  std::shared_ptr<const ClipModel> model_;
  ModelConfig config_;
  std::shared_ptr<const std::vector<std::string>> context_devices_;
  std::unique_ptr<DynamicBatcher> text_batcher_;
  std::unique_ptr<DynamicBatcher> image_batcher_;
  Metrics* metrics_ = nullptr;
};

// The image batch size a CUDA CLIP model runs `rows` images at: the next power of two, at most
// max_rows (and never fewer than rows).
int64_t padded_batch_rows(int64_t rows, int64_t max_rows);

}  // namespace vitrt::serve
