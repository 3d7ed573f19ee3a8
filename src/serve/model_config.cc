// Model repository scanning and config.json parsing (model_config.h).
#include "serve/model_config.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

namespace vitrt::serve {
namespace {

using nlohmann::json;

Status check_keys(const json& object, const std::set<std::string>& known,
                  const std::string& where) {
  for (const auto& item : object.items()) {
    if (!known.count(item.key())) {
      return invalid_argument(where, ": unknown key '", item.key(), "'");
    }
  }
  return Status::ok_status();
}

Result<int64_t> get_int(const json& object, const char* key, int64_t fallback, int64_t min_value,
                        const std::string& where) {
  if (!object.contains(key)) return fallback;
  const json& v = object[key];
  if (!v.is_number_integer() || v.get<int64_t>() < min_value) {
    return invalid_argument(where, ": '", key, "' must be an integer >= ", min_value);
  }
  return v.get<int64_t>();
}

Result<std::string> get_string(const json& object, const char* key, const std::string& fallback,
                               const std::string& where) {
  if (!object.contains(key)) return fallback;
  if (!object[key].is_string()) return invalid_argument(where, ": '", key, "' must be a string");
  return object[key].get<std::string>();
}

Result<std::vector<std::string>> get_names(const json& object, const char* key,
                                           const std::string& where) {
  std::vector<std::string> names;
  if (!object.contains(key)) return names;
  if (!object[key].is_array()) return invalid_argument(where, ": '", key, "' must be a list");
  for (const auto& v : object[key]) {
    if (!v.is_string()) return invalid_argument(where, ": '", key, "' must list strings");
    names.push_back(v.get<std::string>());
  }
  return names;
}

// Triton's instance_group, one group: [{"count": N, "kind": "KIND_GPU", "gpus": [0, 1]}].
Status parse_instance_group(const json& groups, const std::string& where, ModelConfig& config) {
  const std::string g_where = where + " instance_group";
  if (!groups.is_array() || groups.size() != 1 || !groups[0].is_object()) {
    return invalid_argument(g_where,
                            ": expected a list of one group, e.g. "
                            "[{\"count\": 2, \"kind\": \"KIND_GPU\", \"gpus\": [0, 1]}]");
  }
  const json& group = groups[0];
  VITRT_RETURN_IF_ERROR(check_keys(group, {"count", "kind", "gpus", "name"}, g_where));
  VITRT_ASSIGN_OR_RETURN(const int64_t count, get_int(group, "count", 1, 1, g_where));
  config.instance_count = static_cast<int>(std::min<int64_t>(count, 256));
  VITRT_ASSIGN_OR_RETURN(const std::string kind, get_string(group, "kind", "KIND_AUTO", g_where));
  if (kind != "KIND_AUTO" && kind != "KIND_GPU" && kind != "KIND_CPU") {
    return invalid_argument(g_where, ": 'kind' is '", kind,
                            "', expected \"KIND_GPU\", \"KIND_CPU\" or \"KIND_AUTO\"");
  }
  if (!group.contains("gpus")) return Status::ok_status();
  if (kind == "KIND_CPU") return invalid_argument(g_where, ": KIND_CPU takes no 'gpus'");
  const json& gpus = group["gpus"];
  if (!gpus.is_array() || gpus.empty()) {
    return invalid_argument(g_where, ": 'gpus' must be a non-empty list of GPU indices");
  }
  for (const auto& g : gpus) {
    if (!g.is_number_integer() || g.get<int64_t>() < 0 || g.get<int64_t>() > 1023) {
      return invalid_argument(g_where, ": 'gpus' entry ", g.dump(), " is not a GPU index");
    }
    const int d = static_cast<int>(g.get<int64_t>());
    if (std::find(config.gpus.begin(), config.gpus.end(), d) != config.gpus.end()) {
      return invalid_argument(g_where, ": GPU ", d, " is listed twice");
    }
    config.gpus.push_back(d);
  }
  return Status::ok_status();
}

}  // namespace

Result<ModelConfig> parse_model_config(const std::string& json_text, const std::string& folder) {
  const std::string where = folder + "/config.json";
  const json doc = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    return invalid_argument(where, ": not a JSON object");
  }
  VITRT_RETURN_IF_ERROR(
      check_keys(doc,
                 {"name", "backend", "plan", "max_batch_size", "dynamic_batching", "instance_count",
                  "instance_group", "inputs", "outputs", "clip"},
                 where));
  ModelConfig config;
  config.directory = folder;
  VITRT_ASSIGN_OR_RETURN(
      config.name,
      get_string(doc, "name", std::filesystem::path(folder).filename().string(), where));
  VITRT_ASSIGN_OR_RETURN(config.backend, get_string(doc, "backend", "plan", where));
  if (config.backend != "plan" && config.backend != "clip") {
    return invalid_argument(where, ": 'backend' is '", config.backend,
                            "', expected \"plan\" or \"clip\"");
  }
  VITRT_ASSIGN_OR_RETURN(config.plan_path, get_string(doc, "plan", "model.plan", where));
  if (std::filesystem::path(config.plan_path).is_relative()) {
    config.plan_path = (std::filesystem::path(folder) / config.plan_path).string();
  }
  VITRT_ASSIGN_OR_RETURN(config.max_batch_size, get_int(doc, "max_batch_size", 0, 0, where));
  VITRT_ASSIGN_OR_RETURN(const int64_t instances, get_int(doc, "instance_count", 1, 1, where));
  config.instance_count = static_cast<int>(std::min<int64_t>(instances, 256));
  if (doc.contains("instance_group")) {
    if (doc.contains("instance_count")) {
      return invalid_argument(where, ": give 'instance_count' or 'instance_group', not both");
    }
    VITRT_RETURN_IF_ERROR(parse_instance_group(doc["instance_group"], where, config));
  }
  VITRT_ASSIGN_OR_RETURN(config.input_names, get_names(doc, "inputs", where));
  VITRT_ASSIGN_OR_RETURN(config.output_names, get_names(doc, "outputs", where));

  if (doc.contains("dynamic_batching")) {
    const json& db = doc["dynamic_batching"];
    const std::string db_where = where + " dynamic_batching";
    if (!db.is_object()) return invalid_argument(db_where, ": must be an object");
    VITRT_RETURN_IF_ERROR(check_keys(
        db, {"preferred_batch_size", "max_queue_delay_microseconds", "max_queue_size"}, db_where));
    VITRT_ASSIGN_OR_RETURN(config.max_queue_delay_us,
                           get_int(db, "max_queue_delay_microseconds", 0, 0, db_where));
    VITRT_ASSIGN_OR_RETURN(config.max_queue_size, get_int(db, "max_queue_size", 64, 1, db_where));
    if (db.contains("preferred_batch_size")) {
      if (!db["preferred_batch_size"].is_array()) {
        return invalid_argument(db_where, ": 'preferred_batch_size' must be a list");
      }
      for (const auto& v : db["preferred_batch_size"]) {
        if (!v.is_number_integer() || v.get<int64_t>() < 1 ||
            v.get<int64_t>() > config.max_batch_size) {
          return invalid_argument(db_where, ": preferred_batch_size ", v.dump(),
                                  " is not in [1, max_batch_size=", config.max_batch_size, "]");
        }
        config.preferred_batch_sizes.push_back(v.get<int64_t>());
      }
    }
  }
  if (doc.contains("clip")) {
    const json& c = doc["clip"];
    const std::string c_where = where + " clip";
    if (!c.is_object()) return invalid_argument(c_where, ": must be an object");
    VITRT_RETURN_IF_ERROR(check_keys(
        c,
        {"model_dir", "vocab_path", "max_texts", "max_text_bytes", "max_images", "max_image_bytes"},
        c_where));
    VITRT_ASSIGN_OR_RETURN(config.clip.model_dir, get_string(c, "model_dir", ".", c_where));
    config.clip.model_dir = (std::filesystem::path(folder) / config.clip.model_dir).string();
    VITRT_ASSIGN_OR_RETURN(config.clip.vocab_path, get_string(c, "vocab_path", "", c_where));
    VITRT_ASSIGN_OR_RETURN(config.clip.max_texts, get_int(c, "max_texts", 64, 1, c_where));
    VITRT_ASSIGN_OR_RETURN(config.clip.max_text_bytes,
                           get_int(c, "max_text_bytes", 4096, 1, c_where));
    VITRT_ASSIGN_OR_RETURN(config.clip.max_images, get_int(c, "max_images", 16, 1, c_where));
    VITRT_ASSIGN_OR_RETURN(config.clip.max_image_bytes,
                           get_int(c, "max_image_bytes", 16 << 20, 1, c_where));
  } else if (config.backend == "clip") {
    config.clip.model_dir = folder;
  }
  return config;
}

Result<std::vector<ModelConfig>> scan_model_repository(const std::string& dir) {
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) {
    return not_found("model repository '", dir, "' is not a folder");
  }
  std::vector<ModelConfig> configs;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const auto config_path = entry.path() / "config.json";
    if (!entry.is_directory() || !std::filesystem::exists(config_path)) continue;
    std::ifstream in(config_path);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) return io_error("cannot read '", config_path.string(), "'");
    VITRT_ASSIGN_OR_RETURN(ModelConfig config,
                           parse_model_config(text.str(), entry.path().string()));
    configs.push_back(std::move(config));
  }
  if (ec) return io_error("cannot list '", dir, "': ", ec.message());
  std::sort(configs.begin(), configs.end(),
            [](const ModelConfig& a, const ModelConfig& b) { return a.name < b.name; });
  for (size_t i = 1; i < configs.size(); ++i) {
    if (configs[i].name == configs[i - 1].name) {
      return invalid_argument("two models named '", configs[i].name, "' in '", dir, "'");
    }
  }
  return configs;
}

}  // namespace vitrt::serve
