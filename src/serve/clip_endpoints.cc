// The /v1 endpoints over a ClipModel (clip_endpoints.h).
#include "serve/clip_endpoints.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <mutex>
#include <numeric>

#include "serve/base64.h"

namespace vitrt::serve {
namespace {

using nlohmann::json;

HttpResponse json_ok(const json& doc) {
  HttpResponse r;
  r.body = doc.dump(-1, ' ', false, json::error_handler_t::replace);
  return r;
}

HttpResponse error_for(const Status& status) {
  const bool too_large = status.message().find("exceeds the limit") != std::string::npos;
  return error_response(status.code() == StatusCode::kInternal ? 500
                        : too_large                            ? 413
                                                               : 400,
                        status.message());
}

// Collects the tower runs of one request: rows land at their item positions.
struct Join {
  std::mutex mutex;
  int pending = 0;
  Tensor out;
  Status error;
  std::function<void(Result<Tensor>)> done;

  void deliver(const Result<std::vector<NamedTensor>>& r, const std::vector<int64_t>& positions) {
    bool last = false;
    {
      std::lock_guard<std::mutex> lock(mutex);
      if (!r.ok()) {
        if (error.ok()) error = r.status();
      } else {
        const Tensor& emb = (*r)[0].tensor;
        const int64_t dim = out.dim(1);
        if (emb.rank() != 2 || emb.dim(0) != static_cast<int64_t>(positions.size()) ||
            emb.dim(1) != dim) {
          error = internal_error("tower returned ", emb.describe(), " for ", positions.size(),
                                 " items");
        } else {
          for (size_t i = 0; i < positions.size(); ++i) {
            std::memcpy(out.data<float>() + positions[i] * dim, emb.data<float>() + i * dim,
                        sizeof(float) * static_cast<size_t>(dim));
          }
        }
      }
      last = --pending == 0;
    }
    if (last) {
      if (error.ok()) {
        done(out);
      } else {
        done(error);
      }
    }
  }
};

std::vector<float> row(const Tensor& t, int64_t i) {
  const float* p = t.data<float>() + i * t.dim(1);
  return std::vector<float>(p, p + t.dim(1));
}

}  // namespace

int64_t padded_batch_rows(int64_t rows, int64_t max_rows) {
  int64_t padded = 1;
  while (padded < rows) padded *= 2;
  return std::max(rows, std::min(padded, max_rows));
}

ClipService::ClipService(std::shared_ptr<const ClipModel> model, const ModelConfig& config)
    : ClipService(
          {model}, std::vector<int>(static_cast<size_t>(config.instance_count), 0),
          std::vector<std::string>(static_cast<size_t>(config.instance_count), model->device()),
          config) {}

ClipService::ClipService(std::vector<std::shared_ptr<const ClipModel>> models,
                         std::vector<int> context_model, std::vector<std::string> context_devices,
                         const ModelConfig& config)
    : model_(models.front()),
      config_(config),
      context_devices_(
          std::make_shared<const std::vector<std::string>>(std::move(context_devices))) {
  const int64_t max_rows = std::max<int64_t>(1, config.max_batch_size);
  BatcherOptions options{max_rows, config.preferred_batch_sizes, config.max_queue_delay_us,
                         static_cast<int>(context_model.size()), config.max_queue_size};
  auto towers =
      std::make_shared<const std::vector<std::shared_ptr<const ClipModel>>>(std::move(models));
  auto model_of = [towers, context_model](int instance) -> const ClipModel& {
    return *(*towers)[static_cast<size_t>(context_model[static_cast<size_t>(instance)])];
  };
  // Texts arrive as token ids padded to context_length plus their lengths, so that texts of
  // several requests concatenate; the padding is stripped again before the tower.
  text_batcher_ = std::make_unique<DynamicBatcher>(
      options,
      [model_of](int instance,
                 const std::vector<NamedTensor>& in) -> Result<std::vector<NamedTensor>> {
        const Tensor& ids = in[0].tensor;
        const Tensor& lengths = in[1].tensor;
        std::vector<std::vector<int32_t>> sequences;
        for (int64_t i = 0; i < ids.dim(0); ++i) {
          const int32_t* p = ids.data<int32_t>() + i * ids.dim(1);
          sequences.emplace_back(p, p + lengths.data<int32_t>()[i]);
        }
        VITRT_ASSIGN_OR_RETURN(Tensor emb, model_of(instance).embed_token_ids(sequences));
        return std::vector<NamedTensor>{{"embeddings", emb}};
      });
  // On CUDA each new batch size costs a context a memory plan (with its own input staging
  // buffer) and a CUDA graph capture; the batcher forms every size from 1 to max_batch_size.
  // Zero images pad each image batch to the next power of two, so a context meets at most
  // log2(max) + 1 sizes. Images are independent rows, so the padding changes no embedding;
  // it costs GPU time, which a server decoding JPEGs on the CPU has to spare.
  const bool pad = model_->device() == "cuda";
  image_batcher_ = std::make_unique<DynamicBatcher>(
      options,
      [model_of, pad, max_rows](
          int instance, const std::vector<NamedTensor>& in) -> Result<std::vector<NamedTensor>> {
        const Tensor& pixels = in[0].tensor;
        const int64_t rows = pixels.dim(0);
        const int64_t padded = pad ? padded_batch_rows(rows, max_rows) : rows;
        if (padded == rows) {
          VITRT_ASSIGN_OR_RETURN(Tensor emb, model_of(instance).embed_pixels(pixels));
          return std::vector<NamedTensor>{{"embeddings", emb}};
        }
        std::vector<int64_t> shape = pixels.shape();
        shape[0] = padded;
        Tensor batch = Tensor::zeros(DType::kFloat32, shape);
        std::memcpy(batch.raw_data(), pixels.raw_data(), pixels.nbytes());
        VITRT_ASSIGN_OR_RETURN(Tensor emb, model_of(instance).embed_pixels(batch));
        Tensor kept = Tensor::empty(DType::kFloat32, {rows, emb.dim(1)});
        std::memcpy(kept.raw_data(), emb.raw_data(), kept.nbytes());
        return std::vector<NamedTensor>{{"embeddings", kept}};
      });
}

ClipService::~ClipService() {
  stop();
}

void ClipService::stop() {
  text_batcher_->stop();
  image_batcher_->stop();
}

Result<ClipService::Item> ClipService::parse_item(const json& value,
                                                  const std::string& where) const {
  Item item;
  if (value.is_string()) {
    item.text = value.get<std::string>();
  } else if (value.is_object() && value.contains("text") && value["text"].is_string()) {
    item.text = value["text"].get<std::string>();
  } else if (value.is_object() && value.contains("image") && value["image"].is_string()) {
    const std::string& uri = value["image"].get_ref<const std::string&>();
    const size_t comma = uri.find(',');
    if (uri.rfind("data:", 0) != 0 || comma == std::string::npos || comma < 12 ||
        uri.compare(comma - 7, 7, ";base64") != 0) {
      return invalid_argument(where,
                              ": 'image' must be a base64 data URI "
                              "(data:image/jpeg;base64,...)");
    }
    std::optional<std::string> bytes = base64_decode(std::string_view(uri).substr(comma + 1));
    if (!bytes) return invalid_argument(where, ": the image's base64 data is malformed");
    if (static_cast<int64_t>(bytes->size()) > config_.clip.max_image_bytes) {
      return invalid_argument(where, ": image of ", bytes->size(), " bytes exceeds the limit of ",
                              config_.clip.max_image_bytes);
    }
    item.is_image = true;
    item.text = std::move(*bytes);
    return item;
  } else {
    return invalid_argument(where, ": expected a string, {\"text\": ...} or {\"image\": ...}");
  }
  if (static_cast<int64_t>(item.text.size()) > config_.clip.max_text_bytes) {
    return invalid_argument(where, ": text of ", item.text.size(), " bytes exceeds the limit of ",
                            config_.clip.max_text_bytes);
  }
  return item;
}

void ClipService::embed(const std::vector<Item>& items, std::function<void(Result<Tensor>)> done) {
  const int context = model_->context_length();
  const std::vector<int64_t> image_shape = model_->image_shape();
  const int64_t max_rows = std::max<int64_t>(1, config_.max_batch_size);
  const auto preprocess_start = std::chrono::steady_clock::now();
  // Preprocess everything first (here, on the worker pool), so a bad item fails the request
  // before any tower time is spent.
  std::vector<std::vector<int32_t>> ids;
  std::vector<Tensor> pixels;
  std::vector<int64_t> text_pos, image_pos;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string what = "input " + std::to_string(i);
    if (items[i].is_image) {
      Result<Tensor> t = model_->preprocess_image(items[i].text, what);
      if (!t.ok()) return done(t.status());
      pixels.push_back(std::move(*t));
      image_pos.push_back(static_cast<int64_t>(i));
    } else {
      Result<std::vector<int32_t>> t = model_->tokenize(items[i].text);
      if (!t.ok()) return done(t.status().with_context(what));
      ids.push_back(std::move(*t));
      text_pos.push_back(static_cast<int64_t>(i));
    }
  }
  if (metrics_) {
    metrics_->record_latency(config_.name, Stage::kPreprocess,
                             std::chrono::duration<double, std::micro>(
                                 std::chrono::steady_clock::now() - preprocess_start)
                                 .count());
  }
  auto join = std::make_shared<Join>();
  join->out =
      Tensor::zeros(DType::kFloat32, {static_cast<int64_t>(items.size()), model_->embed_dim()});
  join->done = std::move(done);
  // Chunks of at most max_batch_size rows, each one batcher request.
  struct Chunk {
    std::vector<NamedTensor> inputs;
    std::vector<int64_t> positions;
    DynamicBatcher* batcher;
  };
  std::vector<Chunk> chunks;
  for (size_t start = 0; start < ids.size(); start += static_cast<size_t>(max_rows)) {
    const size_t n = std::min(ids.size() - start, static_cast<size_t>(max_rows));
    Tensor padded = Tensor::zeros(DType::kInt32, {static_cast<int64_t>(n), context});
    Tensor lengths = Tensor::zeros(DType::kInt32, {static_cast<int64_t>(n), 1});
    for (size_t k = 0; k < n; ++k) {
      const auto& seq = ids[start + k];
      const size_t len = std::min(seq.size(), static_cast<size_t>(context));
      std::copy_n(seq.begin(), len, padded.data<int32_t>() + k * static_cast<size_t>(context));
      lengths.data<int32_t>()[k] = static_cast<int32_t>(len);
    }
    chunks.push_back({{{"ids", padded}, {"lengths", lengths}},
                      {text_pos.begin() + static_cast<std::ptrdiff_t>(start),
                       text_pos.begin() + static_cast<std::ptrdiff_t>(start + n)},
                      text_batcher_.get()});
  }
  for (size_t start = 0; start < pixels.size(); start += static_cast<size_t>(max_rows)) {
    const size_t n = std::min(pixels.size() - start, static_cast<size_t>(max_rows));
    std::vector<int64_t> shape = {static_cast<int64_t>(n)};
    shape.insert(shape.end(), image_shape.begin(), image_shape.end());
    Tensor batch = Tensor::empty(DType::kFloat32, shape);
    const size_t bytes = batch.nbytes() / n;
    for (size_t k = 0; k < n; ++k) {
      if (pixels[start + k].nbytes() != bytes) {
        return join->done(internal_error("preprocessed image has ", pixels[start + k].describe(),
                                         ", expected [", shape_to_string(image_shape), "]"));
      }
      std::memcpy(static_cast<char*>(batch.raw_data()) + k * bytes, pixels[start + k].raw_data(),
                  bytes);
    }
    chunks.push_back({{{"pixels", batch}},
                      {image_pos.begin() + static_cast<std::ptrdiff_t>(start),
                       image_pos.begin() + static_cast<std::ptrdiff_t>(start + n)},
                      image_batcher_.get()});
  }
  if (chunks.empty()) return join->done(join->out);
  join->pending = static_cast<int>(chunks.size());
  for (auto& chunk : chunks) {
    auto positions = std::make_shared<std::vector<int64_t>>(std::move(chunk.positions));
    const SubmitResult r = chunk.batcher->submit(
        std::move(chunk.inputs),
        [join, positions, metrics = metrics_, name = config_.name, devices = context_devices_](
            Result<std::vector<NamedTensor>> out, const BatchTiming& t) {
          if (metrics) {
            metrics->record_latency(name, Stage::kQueue, t.queue_us);
            metrics->record_latency(name, Stage::kInfer, t.infer_us);
            if (t.first_in_batch) {
              metrics->record_batch(name, t.batch_rows);
              metrics->record_device_batch(name, (*devices)[static_cast<size_t>(t.instance)],
                                           t.batch_rows, t.infer_us);
            }
          }
          join->deliver(out, *positions);
        });
    if (r != SubmitResult::kQueued) {
      join->deliver(
          Status(StatusCode::kOutOfMemory,
                 r == SubmitResult::kQueueFull ? "queue is full" : "server is shutting down"),
          *positions);
    }
  }
}

namespace {

// kOutOfMemory is how embed() reports a full queue or a stopping batcher: answer 503.
HttpResponse embed_error(const Status& status) {
  if (status.code() == StatusCode::kOutOfMemory) {
    HttpResponse r = error_response(503, status.message());
    r.headers.push_back({"Retry-After", "1"});
    return r;
  }
  return error_for(status);
}

}  // namespace

void ClipService::embeddings(const json& body, Responder respond) {
  const json& input = body.contains("input") ? body["input"] : json();
  std::vector<Item> items;
  std::vector<const json*> values;
  if (input.is_string()) {
    values.push_back(&input);
  } else if (input.is_array() && !input.empty()) {
    for (const auto& v : input) values.push_back(&v);
  } else {
    return respond(error_response(400, "'input' must be a string or a non-empty list"));
  }
  if (static_cast<int64_t>(values.size()) > config_.clip.max_texts) {
    return respond(error_response(400, "'input' has " + std::to_string(values.size()) +
                                           " items, the limit is " +
                                           std::to_string(config_.clip.max_texts)));
  }
  int64_t images = 0;
  for (size_t i = 0; i < values.size(); ++i) {
    Result<Item> item = parse_item(*values[i], "input " + std::to_string(i));
    if (!item.ok()) return respond(error_for(item.status()));
    images += item->is_image;
    items.push_back(std::move(*item));
  }
  if (images > config_.clip.max_images) {
    return respond(error_response(400, "'input' has " + std::to_string(images) +
                                           " images, the limit is " +
                                           std::to_string(config_.clip.max_images)));
  }
  const std::string format = body.value("encoding_format", std::string("float"));
  if (format != "float" && format != "base64") {
    return respond(error_response(
        400, "'encoding_format' is '" + format + "', expected \"float\" or \"base64\""));
  }
  int64_t tokens = 0;
  for (const auto& item : items) {
    if (!item.is_image) tokens += static_cast<int64_t>(item.text.size());
  }
  const std::string name = config_.name;
  embed(items, [respond, format, name, tokens](Result<Tensor> emb) {
    if (!emb.ok()) return respond(embed_error(emb.status()));
    json data = json::array();
    for (int64_t i = 0; i < emb->dim(0); ++i) {
      json entry = {{"object", "embedding"}, {"index", i}};
      const std::vector<float> v = row(*emb, i);
      if (format == "base64") {
        // Little-endian float32 bytes, as the openai client decodes them.
        entry["embedding"] = base64_encode(
            std::string_view(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(float)));
      } else {
        entry["embedding"] = v;
      }
      data.push_back(std::move(entry));
    }
    respond(json_ok({{"object", "list"},
                     {"data", std::move(data)},
                     {"model", name},
                     {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}}));
  });
}

void ClipService::classify(const json& body, Responder respond) {
  if (!body.contains("images") || !body["images"].is_array() || body["images"].empty() ||
      !body.contains("labels") || !body["labels"].is_array() || body["labels"].empty()) {
    return respond(error_response(400, "classify needs non-empty 'images' and 'labels' lists"));
  }
  const size_t n_images = body["images"].size();
  if (static_cast<int64_t>(n_images) > config_.clip.max_images ||
      static_cast<int64_t>(body["labels"].size()) > config_.clip.max_texts) {
    return respond(error_response(400, "at most " + std::to_string(config_.clip.max_images) +
                                           " images and " + std::to_string(config_.clip.max_texts) +
                                           " labels"));
  }
  std::vector<Item> items;
  std::vector<std::string> labels;
  for (size_t i = 0; i < n_images; ++i) {
    const json& v = body["images"][i];
    Result<Item> item =
        parse_item(v.is_string() ? json{{"image", v}} : v, "image " + std::to_string(i));
    if (!item.ok()) return respond(error_for(item.status()));
    if (!item->is_image)
      return respond(error_response(400, "image " + std::to_string(i) + ": not an image data URI"));
    items.push_back(std::move(*item));
  }
  for (size_t i = 0; i < body["labels"].size(); ++i) {
    const json& v = body["labels"][i];
    if (!v.is_string()) {
      return respond(error_response(400, "label " + std::to_string(i) + ": not a string"));
    }
    Result<Item> item = parse_item(v, "label " + std::to_string(i));
    if (!item.ok()) return respond(error_for(item.status()));
    labels.push_back(item->text);
    items.push_back(std::move(*item));
  }
  auto model = model_;
  const std::string name = config_.name;
  embed(items, [respond, model, labels, n_images, name](Result<Tensor> emb) {
    if (!emb.ok()) return respond(embed_error(emb.status()));
    const int64_t n = static_cast<int64_t>(n_images);
    const int64_t m = static_cast<int64_t>(labels.size());
    const int64_t d = emb->dim(1);
    auto slice = [&emb, d](int64_t from, int64_t count) {
      Tensor t = Tensor::empty(DType::kFloat32, {count, d});
      std::memcpy(t.raw_data(), emb->data<float>() + from * d, t.nbytes());
      return t;
    };
    Result<Tensor> probs = model->classify(slice(0, n), slice(n, m));
    if (!probs.ok()) return respond(error_for(probs.status()));
    json data = json::array();
    for (int64_t i = 0; i < n; ++i) {
      const std::vector<float> p = row(*probs, i);
      const auto best = std::max_element(p.begin(), p.end()) - p.begin();
      data.push_back({{"index", i}, {"label", labels[static_cast<size_t>(best)]}, {"scores", p}});
    }
    respond(json_ok({{"object", "list"}, {"model", name}, {"labels", labels}, {"data", data}}));
  });
}

void ClipService::rank(const json& body, Responder respond) {
  if (!body.contains("query") || !body.contains("documents") || !body["documents"].is_array() ||
      body["documents"].empty()) {
    return respond(error_response(400, "rank needs a 'query' and a non-empty 'documents' list"));
  }
  const size_t n_docs = body["documents"].size();
  if (static_cast<int64_t>(n_docs) > config_.clip.max_texts) {
    return respond(error_response(400, "'documents' has " + std::to_string(n_docs) +
                                           " items, the limit is " +
                                           std::to_string(config_.clip.max_texts)));
  }
  std::vector<Item> items;
  Result<Item> query = parse_item(body["query"], "query");
  if (!query.ok()) return respond(error_for(query.status()));
  items.push_back(std::move(*query));
  int64_t images = items[0].is_image;
  for (size_t i = 0; i < n_docs; ++i) {
    Result<Item> item = parse_item(body["documents"][i], "document " + std::to_string(i));
    if (!item.ok()) return respond(error_for(item.status()));
    images += item->is_image;
    items.push_back(std::move(*item));
  }
  if (images > config_.clip.max_images) {
    return respond(error_response(400, std::to_string(images) + " images, the limit is " +
                                           std::to_string(config_.clip.max_images)));
  }
  const json& top = body.contains("top_n") ? body["top_n"] : json(static_cast<int64_t>(n_docs));
  if (!top.is_number_integer() || top.get<int64_t>() < 1) {
    return respond(error_response(400, "'top_n' must be a positive integer"));
  }
  const size_t top_n = std::min(n_docs, static_cast<size_t>(top.get<int64_t>()));
  const std::string name = config_.name;
  embed(items, [respond, n_docs, top_n, name](Result<Tensor> emb) {
    if (!emb.ok()) return respond(embed_error(emb.status()));
    // Cosine similarity: the embeddings are L2-normalised.
    const std::vector<float> q = row(*emb, 0);
    std::vector<std::pair<float, int64_t>> scores;
    for (size_t i = 0; i < n_docs; ++i) {
      const std::vector<float> v = row(*emb, static_cast<int64_t>(i) + 1);
      scores.push_back(
          {std::inner_product(q.begin(), q.end(), v.begin(), 0.0f), static_cast<int64_t>(i)});
    }
    std::stable_sort(scores.begin(), scores.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    json results = json::array();
    for (size_t i = 0; i < top_n; ++i) {
      results.push_back({{"index", scores[i].second}, {"score", scores[i].first}});
    }
    respond(json_ok({{"object", "list"}, {"model", name}, {"results", results}}));
  });
}

}  // namespace vitrt::serve
