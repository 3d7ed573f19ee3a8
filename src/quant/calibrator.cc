// Calibration runs: the calibration inputs (images or .npy files) through the FP32 graph on
// the CPU, with the values to measure made graph outputs.
#include "quant/calibrator.h"

#include <algorithm>
#include <filesystem>

#include "core/npy.h"
#include "runtime/cpu_engine.h"
#include "vision/data_folder.h"
#include "vision/image_preprocess.h"
#include "vision/preprocessor_config.h"
#include "vitrt/engine.h"

namespace vitrt::quant {
namespace fs = std::filesystem;

uint64_t graph_fingerprint(const Graph& graph) {
  uint64_t hash = 0xcbf29ce484222325ull;  // FNV-1a
  auto mix = [&](const std::string& text) {
    for (unsigned char c : text) hash = (hash ^ c) * 0x100000001b3ull;
    hash = (hash ^ 0xff) * 0x100000001b3ull;  // separator
  };
  for (const Value& v : graph.values) {
    mix(v.name);
    mix(dtype_name(v.dtype));
    mix(v.has_shape ? sym_shape_to_string(v.shape) : "?");
  }
  return hash;
}

namespace {

// One run's inputs: either files to read when the run comes (lazily: calibration data may be
// large), by input name, or a group of images for the one input.
struct CalibrationBatch {
  std::map<std::string, std::string> npy_by_input;
  std::vector<std::string> images;
};

Result<std::vector<CalibrationBatch>> list_batches(const Graph& graph,
                                                   const CalibrationOptions& options) {
  const std::string& dir = options.data_dir;
  VITRT_ASSIGN_OR_RETURN(vision::DataFolder folder, vision::list_data_folder(dir, "--calib-data"));
  VITRT_ASSIGN_OR_RETURN(vision::DataLayout layout, vision::data_layout(folder, "--calib-data"));
  std::vector<std::string> input_names;
  for (ValueId id : graph.inputs) input_names.push_back(graph.values[id].name);
  std::vector<CalibrationBatch> batches;
  switch (layout) {
    case vision::DataLayout::kSampleFolders:
      for (const std::string& sample : folder.folders) {
        CalibrationBatch b;
        for (const std::string& name : input_names) {
          const fs::path file = fs::path(sample) / (name + ".npy");
          std::error_code ec;
          if (!fs::is_regular_file(file, ec)) {
            return not_found("calibration sample folder '", sample, "' has no '", name,
                             ".npy' for model input '", name, "'");
          }
          b.npy_by_input[name] = file.string();
        }
        batches.push_back(std::move(b));
      }
      break;
    case vision::DataLayout::kNpyFiles:
      if (input_names.size() != 1) {
        return invalid_argument("--calib-data '", dir, "' holds .npy files, but the model has ",
                                input_names.size(),
                                " inputs: put NAME.npy for each input into one sub-folder per "
                                "sample");
      }
      for (const std::string& file : folder.npy_files) {
        batches.push_back({{{input_names[0], file}}, {}});
      }
      break;
    case vision::DataLayout::kImages: {
      if (input_names.size() != 1) {
        return invalid_argument("--calib-data '", dir, "' holds images, but the model has ",
                                input_names.size(), " inputs (images need a one-input model)");
      }
      const std::vector<std::string>& images = folder.images;
      const size_t per_batch = static_cast<size_t>(std::max(1, options.batch_size));
      for (size_t i = 0; i < images.size(); i += per_batch) {
        CalibrationBatch b;
        b.images.assign(images.begin() + i,
                        images.begin() + std::min(images.size(), i + per_batch));
        batches.push_back(std::move(b));
      }
      break;
    }
  }
  if (options.max_batches > 0 && batches.size() > static_cast<size_t>(options.max_batches)) {
    batches.resize(options.max_batches);
  }
  return batches;
}

Result<std::vector<NamedTensor>> load_batch(const CalibrationBatch& batch,
                                            const std::string& image_input,
                                            const vision::PreprocessorConfig& config) {
  std::vector<NamedTensor> inputs;
  if (!batch.images.empty()) {
    VITRT_ASSIGN_OR_RETURN(Tensor pixels, vision::preprocess_image_files(batch.images, config));
    inputs.push_back({image_input, std::move(pixels)});
    return inputs;
  }
  for (const auto& [name, path] : batch.npy_by_input) {
    VITRT_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
    inputs.push_back({name, std::move(t)});
  }
  return inputs;
}

}  // namespace

Result<Histograms> calibrate(const Graph& graph, const std::vector<std::string>& required,
                             const CalibrationOptions& options) {
  const uint64_t fingerprint = graph_fingerprint(graph);
  std::vector<std::string> value_names = required;
  auto measure_too = [&](const std::string& name) {
    if (std::find(value_names.begin(), value_names.end(), name) == value_names.end()) {
      value_names.push_back(name);
    }
  };
  for (const std::string& name : options.optional_values) measure_too(name);
  std::error_code ec;
  if (!options.cache_path.empty() && fs::exists(options.cache_path, ec)) {
    VITRT_ASSIGN_OR_RETURN(Histograms cached,
                           read_calibration_cache(options.cache_path, fingerprint));
    std::vector<std::string> missing;  // required ones first
    for (const std::string& name : value_names) {
      if (cached.count(name) == 0) missing.push_back(name);
    }
    const bool lacks_required = !missing.empty() && std::find(required.begin(), required.end(),
                                                              missing[0]) != required.end();
    if (missing.empty() || (!lacks_required && options.data_dir.empty())) {
      if (options.log) {
        options.log(str_cat(
            "calibration: reused '", options.cache_path, "' (", cached.size(), " tensors)",
            missing.empty() ? std::string()
                            : str_cat("; it has no ranges for ", missing.size(),
                                      " values this build also measures (e.g. '", missing[0],
                                      "'; made by an older vitrt?): --calib-data measures "
                                      "them")));
      }
      return cached;
    }
    if (options.data_dir.empty()) {
      return invalid_argument("calibration cache '", options.cache_path, "' has no data for '",
                              missing[0], "' (made with other layer rules?): pass --calib-data ",
                              "to calibrate again, or delete it");
    }
    // Calibrate again on the data given: everything the cache held too, so that the new cache
    // still serves the builds that made the old one.
    for (const auto& [name, h] : cached) {
      if (graph.find_value(name)) measure_too(name);
    }
    if (options.log) {
      options.log(str_cat("calibration: '", options.cache_path, "' has no ranges for ",
                          missing.size(), " of the values this build measures (e.g. '", missing[0],
                          "'): calibrating again on '", options.data_dir,
                          "', the new cache keeping its ", cached.size(), " values too"));
    }
  }
  if (options.data_dir.empty()) {
    return invalid_argument("calibration needs --calib-data DIR (images or .npy inputs)");
  }
  VITRT_ASSIGN_OR_RETURN(std::vector<CalibrationBatch> batches, list_batches(graph, options));
  vision::PreprocessorConfig config = vision::vit_default_preprocessor_config();
  if (!options.preprocessor_config.empty()) {
    VITRT_ASSIGN_OR_RETURN(config, vision::read_preprocessor_config(options.preprocessor_config));
  }

  // The same graph with the measured values as its outputs.
  Graph probe = graph;
  probe.outputs.clear();
  for (const std::string& name : value_names) {
    std::optional<ValueId> id = probe.find_value(name);
    if (!id) return internal_error("calibration: the graph has no value '", name, "'");
    probe.outputs.push_back(*id);
  }
  VITRT_ASSIGN_OR_RETURN(std::shared_ptr<Engine> engine, create_cpu_engine(std::move(probe)));
  std::unique_ptr<ExecutionContext> context = engine->create_context();
  const std::string image_input = graph.values[graph.inputs[0]].name;

  Histograms histograms;
  for (const std::string& name : value_names) histograms[name];
  for (size_t b = 0; b < batches.size(); ++b) {
    VITRT_ASSIGN_OR_RETURN(std::vector<NamedTensor> inputs,
                           load_batch(batches[b], image_input, config));
    Result<std::vector<NamedTensor>> outputs = context->run(inputs);
    if (!outputs.ok()) {
      const std::string images =
          batches[b].images.empty()
              ? std::string()
              : str_cat(" (images preprocessed by ",
                        options.preprocessor_config.empty()
                            ? "HF ViT's defaults: 224x224; --calib-config sets another size"
                            : options.preprocessor_config,
                        ")");
      return outputs.status().with_context(str_cat("calibration batch ", b + 1, images));
    }
    for (const NamedTensor& out : *outputs) {
      if (out.tensor.dtype() != DType::kFloat32) {
        return internal_error("calibration: '", out.name, "' is ", dtype_name(out.tensor.dtype()),
                              ", not float32");
      }
      histograms[out.name].add(out.tensor.data<float>(), out.tensor.numel());
    }
    if (options.progress)
      options.progress(static_cast<int>(b + 1), static_cast<int>(batches.size()));
  }
  if (options.log) {
    options.log(str_cat("calibration: ", batches.size(), " batches from '", options.data_dir, "', ",
                        histograms.size(), " tensors measured"));
  }
  if (!options.cache_path.empty()) {
    VITRT_RETURN_IF_ERROR(write_calibration_cache(options.cache_path, fingerprint, histograms));
    if (options.log) options.log(str_cat("calibration: wrote '", options.cache_path, "'"));
  }
  return histograms;
}

}  // namespace vitrt::quant
