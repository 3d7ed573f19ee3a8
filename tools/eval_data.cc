#include "eval_data.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/half.h"
#include "core/npy.h"
#include "vision/data_folder.h"
#include "vision/image_preprocess.h"

namespace vitrt::cli {
namespace {

namespace fs = std::filesystem;

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// `t` as `dtype`: float to float and integer to integer conversions only (a float file for an
// integer input, or the reverse, is almost certainly the wrong file).
Result<Tensor> convert_to(const Tensor& t, DType dtype, const std::string& what) {
  if (t.dtype() == dtype) return t;
  const bool float_to_float = dtype_is_float(t.dtype()) && dtype_is_float(dtype);
  const bool int_to_int = dtype_is_integer(t.dtype()) && dtype_is_integer(dtype);
  if (!float_to_float && !int_to_int) {
    return invalid_argument(what, " holds ", dtype_name(t.dtype()), " but the model input is ",
                            dtype_name(dtype));
  }
  Tensor out = Tensor::empty(dtype, t.shape());
  const int64_t n = t.numel();
  for (int64_t i = 0; i < n; ++i) {
    switch (dtype) {
      case DType::kFloat32:
        out.data<float>()[i] = static_cast<float>(t.element_as_double(i));
        break;
      case DType::kFloat64:
        out.data<double>()[i] = t.element_as_double(i);
        break;
      case DType::kFloat16:
        out.data<uint16_t>()[i] = float_to_half(static_cast<float>(t.element_as_double(i)));
        break;
      case DType::kBFloat16:
        out.data<uint16_t>()[i] = float_to_bf16(static_cast<float>(t.element_as_double(i)));
        break;
      case DType::kInt64:
        out.data<int64_t>()[i] = t.element_as_int64(i);
        break;
      case DType::kInt32: {
        const int64_t v = t.element_as_int64(i);
        if (v < INT32_MIN || v > INT32_MAX) {
          return invalid_argument(what, ": value ", v, " at element ", i,
                                  " does not fit the model input's int32");
        }
        out.data<int32_t>()[i] = static_cast<int32_t>(v);
        break;
      }
      default:
        return invalid_argument(what, " holds ", dtype_name(t.dtype()), " but the model input is ",
                                dtype_name(dtype), " (only that exact type is accepted)");
    }
  }
  return out;
}

std::string input_names(const std::vector<TensorInfo>& inputs) {
  std::string names;
  for (const TensorInfo& in : inputs) names += (names.empty() ? "'" : ", '") + in.name + "'";
  return names;
}

// Joins tensors along axis 0 (the items); `names` name each part in errors.
Result<Tensor> concat_items(const std::vector<Tensor>& parts,
                            const std::vector<std::string>& names) {
  if (parts.size() == 1) return parts[0];
  std::vector<int64_t> shape = parts[0].shape();
  shape[0] = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Tensor& t = parts[i];
    const bool same_item =
        t.dtype() == parts[0].dtype() && t.rank() == parts[0].rank() &&
        std::equal(t.shape().begin() + 1, t.shape().end(), parts[0].shape().begin() + 1);
    if (!same_item) {
      return invalid_argument(names[i], " holds ", t.describe(), " but ", names[0], " holds ",
                              parts[0].describe(), ": items must have one shape and type");
    }
    shape[0] += t.dim(0);
  }
  Tensor out = Tensor::empty(parts[0].dtype(), shape);
  size_t offset = 0;
  for (const Tensor& t : parts) {
    std::memcpy(static_cast<uint8_t*>(out.raw_data()) + offset, t.raw_data(), t.nbytes());
    offset += t.nbytes();
  }
  return out;
}

Result<EvalData> read_npy_inputs(const std::string& dir, const std::vector<TensorInfo>& inputs,
                                 const std::vector<std::string>& npy_paths) {
  const std::vector<fs::path> npy_files(npy_paths.begin(), npy_paths.end());
  // A single-input model also takes a folder of .npy batches of any names (quant_core's
  // --calib-data layout): read in name order and joined.
  if (inputs.size() == 1 &&
      std::none_of(npy_files.begin(), npy_files.end(),
                   [&](const fs::path& p) { return p.stem().string() == inputs[0].name; })) {
    std::vector<Tensor> parts;
    std::vector<std::string> names;
    for (const fs::path& p : npy_files) {
      names.push_back(str_cat("'", p.string(), "' (input '", inputs[0].name, "')"));
      VITRT_ASSIGN_OR_RETURN(Tensor t, read_npy(p.string()));
      if (t.rank() == 0)
        return invalid_argument(names.back(), " is a scalar; expected [items, ...]");
      parts.push_back(std::move(t));
    }
    VITRT_ASSIGN_OR_RETURN(Tensor joined, concat_items(parts, names));
    EvalData data;
    if (!inputs[0].dims.empty() && static_cast<size_t>(joined.rank()) != inputs[0].dims.size()) {
      return invalid_argument(names[0], " has shape ", shape_to_string(parts[0].shape()),
                              " but the input has ", inputs[0].dims.size(), " dims [items, ...]");
    }
    VITRT_ASSIGN_OR_RETURN(joined, convert_to(joined, inputs[0].dtype, names[0]));
    data.items = joined.dim(0);
    data.inputs.push_back({inputs[0].name, std::move(joined)});
    data.description = str_cat(data.items, " items from ", npy_files.size(), " .npy files");
    return data;
  }
  std::map<std::string, fs::path> by_stem;
  for (const fs::path& p : npy_files) by_stem[p.stem().string()] = p;
  std::vector<fs::path> chosen;
  for (const TensorInfo& in : inputs) {
    auto it = by_stem.find(in.name);
    if (it != by_stem.end()) {
      chosen.push_back(it->second);
      by_stem.erase(it);
    }
  }
  if (chosen.size() != inputs.size()) {
    std::string missing;
    for (const TensorInfo& in : inputs) {
      if (!fs::exists(fs::path(dir) / (in.name + ".npy"))) {
        missing += (missing.empty() ? "'" : ", '") + in.name + ".npy'";
      }
    }
    return invalid_argument("data folder '", dir, "' lacks ", missing,
                            ": it needs one NAME.npy per model input (the inputs are ",
                            input_names(inputs), ")");
  }
  if (!by_stem.empty()) {
    return invalid_argument("data folder '", dir, "' holds '", by_stem.begin()->second.string(),
                            "', which names no model input (the inputs are ", input_names(inputs),
                            ")");
  }
  EvalData data;
  for (size_t i = 0; i < inputs.size(); ++i) {
    const std::string what = str_cat("'", chosen[i].string(), "' (input '", inputs[i].name, "')");
    VITRT_ASSIGN_OR_RETURN(Tensor t, read_npy(chosen[i].string()));
    if (t.rank() == 0) return invalid_argument(what, " is a scalar; expected [items, ...]");
    if (!inputs[i].dims.empty() && static_cast<size_t>(t.rank()) != inputs[i].dims.size()) {
      return invalid_argument(what, " has shape ", shape_to_string(t.shape()),
                              " but the input has ", inputs[i].dims.size(), " dims [items, ...]");
    }
    VITRT_ASSIGN_OR_RETURN(t, convert_to(t, inputs[i].dtype, what));
    if (i == 0) {
      data.items = t.dim(0);
    } else if (t.dim(0) != data.items) {
      return invalid_argument(what, " has ", t.dim(0), " items but '", chosen[0].string(), "' has ",
                              data.items, " (axis 0 counts the items)");
    }
    data.inputs.push_back({inputs[i].name, std::move(t)});
  }
  data.description = str_cat(data.items, " items from .npy");
  return data;
}

// Sub-folders of NAME.npy per input (quant_core's --calib-data layout for multi-input models),
// in name order, joined along the items.
Result<EvalData> read_npy_folders(const std::vector<TensorInfo>& inputs,
                                  const std::vector<std::string>& folders) {
  std::vector<std::vector<Tensor>> parts(inputs.size());
  std::vector<std::string> names;
  for (const std::string& folder : folders) {
    VITRT_ASSIGN_OR_RETURN(vision::DataFolder sample,
                           vision::list_data_folder(folder, "sample folder"));
    if (sample.npy_files.empty()) {
      return invalid_argument("sample folder '", folder,
                              "' holds no .npy files (it needs NAME.npy ",
                              "per model input; the inputs are ", input_names(inputs), ")");
    }
    VITRT_ASSIGN_OR_RETURN(EvalData one, read_npy_inputs(folder, inputs, sample.npy_files));
    for (size_t i = 0; i < inputs.size(); ++i) parts[i].push_back(std::move(one.inputs[i].tensor));
    names.push_back(str_cat("folder '", folder, "'"));
  }
  EvalData data;
  for (size_t i = 0; i < inputs.size(); ++i) {
    VITRT_ASSIGN_OR_RETURN(Tensor joined, concat_items(parts[i], names));
    data.items = joined.dim(0);
    data.inputs.push_back({inputs[i].name, std::move(joined)});
  }
  data.description = str_cat(data.items, " items from .npy in ", folders.size(), " folders");
  return data;
}

}  // namespace

Result<EvalData> read_eval_data(const std::string& dir, const std::vector<TensorInfo>& inputs,
                                const vision::PreprocessorConfig& config) {
  VITRT_ASSIGN_OR_RETURN(vision::DataFolder folder, vision::list_data_folder(dir, "data folder"));
  VITRT_ASSIGN_OR_RETURN(vision::DataLayout layout, vision::data_layout(folder, "data folder"));
  if (layout == vision::DataLayout::kNpyFiles)
    return read_npy_inputs(dir, inputs, folder.npy_files);
  if (layout == vision::DataLayout::kSampleFolders) return read_npy_folders(inputs, folder.folders);
  if (inputs.size() != 1 || !dtype_is_float(inputs[0].dtype) ||
      (!inputs[0].dims.empty() && inputs[0].dims.size() != 4)) {
    return invalid_argument("data folder '", dir, "' holds images, which fit a model with one ",
                            "float [batch, 3, H, W] input; this model's inputs are ",
                            input_names(inputs), ": give NAME.npy files instead");
  }
  const TensorInfo& in = inputs[0];
  // A static H x W that the preprocessing does not produce is the usual mistake (a missing or
  // wrong --config): say so before running anything.
  if (in.dims.size() == 4) {
    const int out_h = config.do_center_crop ? config.crop_height : config.resize_height;
    const int out_w = config.do_center_crop ? config.crop_width : config.resize_width;
    const std::string want_h = std::to_string(out_h), want_w = std::to_string(out_w);
    const bool static_hw = std::isdigit(static_cast<unsigned char>(in.dims[2][0])) &&
                           std::isdigit(static_cast<unsigned char>(in.dims[3][0]));
    if (static_hw && out_h > 0 && out_w > 0 && (in.dims[2] != want_h || in.dims[3] != want_w)) {
      return invalid_argument("input '", in.name, "' takes ", in.dims[2], "x", in.dims[3],
                              " images but the preprocessing makes ", out_h, "x", out_w,
                              ": give the model's preprocessor_config.json with --config");
    }
  }
  VITRT_ASSIGN_OR_RETURN(Tensor pixels, vision::preprocess_image_files(folder.images, config));
  VITRT_ASSIGN_OR_RETURN(pixels, convert_to(pixels, in.dtype, str_cat("input '", in.name, "'")));
  EvalData data;
  data.items = pixels.dim(0);
  data.inputs.push_back({in.name, std::move(pixels)});
  data.description = str_cat(data.items, " images");
  return data;
}

Result<std::vector<int64_t>> read_labels(const std::string& path) {
  std::error_code ec;
  if (!fs::is_regular_file(path, ec)) return not_found("labels file '", path, "' does not exist");
  if (lower(fs::path(path).extension().string()) == ".npy") {
    VITRT_ASSIGN_OR_RETURN(Tensor t, read_npy(path));
    if (!dtype_is_integer(t.dtype()) || !(t.rank() == 1 || (t.rank() == 2 && t.dim(1) == 1))) {
      return invalid_argument("labels file '", path, "' holds ", t.describe(),
                              "; expected integers [items] or [items, 1]");
    }
    return t.to_int64_vector();
  }
  std::ifstream in(path);
  std::vector<int64_t> labels;
  std::string word;
  while (in >> word) {
    char* end = nullptr;
    errno = 0;
    const long long v = std::strtoll(word.c_str(), &end, 10);
    if (end == word.c_str() || *end != '\0' || errno != 0) {
      return invalid_argument("labels file '", path, "': '", word, "' (label ", labels.size(),
                              ") is not an integer");
    }
    labels.push_back(v);
  }
  if (labels.empty()) return invalid_argument("labels file '", path, "' holds no labels");
  return labels;
}

Tensor slice_items(const Tensor& t, int64_t begin, int64_t end) {
  std::vector<int64_t> shape = t.shape();
  const size_t item_bytes = t.nbytes() / static_cast<size_t>(std::max<int64_t>(shape[0], 1));
  shape[0] = end - begin;
  Tensor out = Tensor::empty(t.dtype(), shape);
  std::memcpy(out.raw_data(),
              static_cast<const uint8_t*>(t.raw_data()) + static_cast<size_t>(begin) * item_bytes,
              static_cast<size_t>(end - begin) * item_bytes);
  return out;
}

}  // namespace vitrt::cli
