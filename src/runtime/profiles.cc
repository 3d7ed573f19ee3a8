// Optimization profiles (see profiles.h).
#include "runtime/profiles.h"

#include <map>
#include <utility>

namespace vitrt {
namespace {

std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (true) {
    const size_t at = s.find(sep, start);
    parts.push_back(s.substr(start, at == std::string::npos ? std::string::npos : at - start));
    if (at == std::string::npos) return parts;
    start = at + 1;
  }
}

Result<std::vector<int64_t>> parse_dims(const std::string& text, const std::string& what) {
  std::vector<int64_t> dims;
  for (const std::string& d : split(text, 'x')) {
    size_t used = 0;
    int64_t v = -1;
    try {
      v = std::stoll(d, &used);
    } catch (...) {
      used = 0;
    }
    if (d.empty() || used != d.size() || v < 0) {
      return invalid_argument(what, ": '", text, "' is not a shape like 1x3x224x224");
    }
    dims.push_back(v);
  }
  return dims;
}

std::string dims_text(const std::vector<int64_t>& dims) {
  std::string s;
  for (size_t i = 0; i < dims.size(); ++i) s += str_cat(i == 0 ? "" : "x", dims[i]);
  return s;
}

std::string range_text(const InputRange& r) {
  return str_cat(r.input, ":min=", dims_text(r.min), ",opt=", dims_text(r.opt),
                 ",max=", dims_text(r.max));
}

bool contains(const InputRange& r, const std::vector<int64_t>& shape) {
  if (shape.size() != r.min.size()) return false;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (shape[d] < r.min[d] || shape[d] > r.max[d]) return false;
  }
  return true;
}

class ProfileCheckingContext final : public ExecutionContext {
 public:
  ProfileCheckingContext(std::unique_ptr<ExecutionContext> inner,
                         const std::vector<OptimizationProfile>* profiles)
      : inner_(std::move(inner)), profiles_(profiles) {}
  void set_profiling(bool enabled) override { inner_->set_profiling(enabled); }
  std::vector<NodeProfile> profile() const override { return inner_->profile(); }
  RunTimes last_run_times() const override { return inner_->last_run_times(); }
  DeviceMemory device_memory() const override { return inner_->device_memory(); }
  Result<double> rerun_on_device() override { return inner_->rerun_on_device(); }
  Result<std::vector<NamedTensor>> run(const std::vector<NamedTensor>& inputs) override {
    VITRT_RETURN_IF_ERROR(select_profile(*profiles_, inputs).status());
    return inner_->run(inputs);
  }

 private:
  std::unique_ptr<ExecutionContext> inner_;
  const std::vector<OptimizationProfile>* profiles_;
};

class ProfileCheckingEngine final : public Engine {
 public:
  ProfileCheckingEngine(std::shared_ptr<Engine> inner, std::vector<OptimizationProfile> profiles)
      : inner_(std::move(inner)), profiles_(std::move(profiles)) {}
  const std::vector<TensorInfo>& inputs() const override { return inner_->inputs(); }
  const std::vector<TensorInfo>& outputs() const override { return inner_->outputs(); }
  std::string device() const override { return inner_->device(); }
  std::unique_ptr<ExecutionContext> create_context() const override {
    return std::make_unique<ProfileCheckingContext>(inner_->create_context(), &profiles_);
  }

 private:
  std::shared_ptr<Engine> inner_;
  std::vector<OptimizationProfile> profiles_;
};

}  // namespace

Result<InputRange> parse_input_range(const std::string& spec) {
  const size_t colon = spec.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return invalid_argument("profile '", spec,
                            "': expected NAME:min=AxB..,opt=AxB..,max=AxB.. "
                            "(e.g. pixel_values:min=1x3x224x224,opt=32x3x224x224,"
                            "max=256x3x224x224)");
  }
  InputRange r;
  r.input = spec.substr(0, colon);
  bool have_min = false, have_opt = false, have_max = false;
  for (const std::string& part : split(spec.substr(colon + 1), ',')) {
    const size_t eq = part.find('=');
    const std::string key = part.substr(0, eq);
    const std::string what = str_cat("profile of input '", r.input, "', ", key);
    if (eq == std::string::npos || (key != "min" && key != "opt" && key != "max")) {
      return invalid_argument("profile of input '", r.input, "': '", part,
                              "' is not min=SHAPE, opt=SHAPE or max=SHAPE");
    }
    bool& seen = key == "min" ? have_min : key == "opt" ? have_opt : have_max;
    if (seen) return invalid_argument("profile of input '", r.input, "' gives ", key, " twice");
    seen = true;
    VITRT_ASSIGN_OR_RETURN(std::vector<int64_t> dims, parse_dims(part.substr(eq + 1), what));
    (key == "min" ? r.min : key == "opt" ? r.opt : r.max) = std::move(dims);
  }
  if (!have_min || !have_opt || !have_max) {
    return invalid_argument("profile of input '", r.input, "' needs min=, opt= and max=");
  }
  if (r.min.size() != r.opt.size() || r.opt.size() != r.max.size()) {
    return invalid_argument("profile of input '", r.input,
                            "': min, opt and max have different ranks");
  }
  for (size_t d = 0; d < r.min.size(); ++d) {
    if (r.min[d] > r.opt[d] || r.opt[d] > r.max[d]) {
      return invalid_argument("profile of input '", r.input, "': dim ", d,
                              " needs min <= opt <= max, got ", r.min[d], ", ", r.opt[d], ", ",
                              r.max[d]);
    }
  }
  return r;
}

Result<std::vector<OptimizationProfile>> parse_profile_specs(
    const std::vector<std::string>& specs) {
  std::vector<InputRange> ranges;
  for (const std::string& spec : specs) {
    VITRT_ASSIGN_OR_RETURN(InputRange r, parse_input_range(spec));
    ranges.push_back(std::move(r));
  }
  return group_profiles(ranges);
}

Result<std::vector<OptimizationProfile>> group_profiles(const std::vector<InputRange>& ranges) {
  std::vector<OptimizationProfile> profiles;
  std::map<std::string, size_t> count;
  for (const InputRange& r : ranges) {
    const size_t k = count[r.input]++;
    if (profiles.size() <= k) profiles.resize(k + 1);
    profiles[k].inputs.push_back(r);
  }
  for (const auto& [name, n] : count) {
    if (n != profiles.size()) {
      return invalid_argument("input '", name, "' has ", n,
                              " profile range(s) but another input has ", profiles.size(),
                              ": give every profiled input one range per profile");
    }
  }
  return profiles;
}

Status check_profiles(const Graph& graph, const std::vector<OptimizationProfile>& profiles) {
  for (size_t p = 0; p < profiles.size(); ++p) {
    for (const InputRange& r : profiles[p].inputs) {
      const Value* found = nullptr;
      std::string names;
      for (ValueId id : graph.inputs) {
        const Value& v = graph.values[id];
        names += str_cat(names.empty() ? "" : ", ", v.name);
        if (v.name == r.input) found = &v;
      }
      if (found == nullptr) {
        return invalid_argument("profile ", p, " names input '", r.input,
                                "', which the model does not have (inputs: ", names, ")");
      }
      if (!found->has_shape) continue;
      if (found->shape.size() != r.min.size()) {
        return invalid_argument("profile ", p, " gives input '", r.input, "' rank ", r.min.size(),
                                " but the model's input is ", sym_shape_to_string(found->shape));
      }
      for (size_t d = 0; d < r.min.size(); ++d) {
        const Dim& dim = found->shape[d];
        if (dim.is_static() && (r.min[d] != dim.value() || r.max[d] != dim.value())) {
          return invalid_argument("profile ", p, " gives input '", r.input, "' dim ", d,
                                  " the range [", r.min[d], ", ", r.max[d],
                                  "] but the model fixes it at ", dim.value(), " (",
                                  sym_shape_to_string(found->shape), ")");
        }
      }
    }
  }
  return Status::ok_status();
}

std::string format_profiles(const std::vector<OptimizationProfile>& profiles) {
  std::string out;
  for (size_t p = 0; p < profiles.size(); ++p) {
    if (p > 0) out += '|';
    for (size_t i = 0; i < profiles[p].inputs.size(); ++i) {
      out += str_cat(i == 0 ? "" : ";", range_text(profiles[p].inputs[i]));
    }
  }
  return out;
}

Result<std::vector<OptimizationProfile>> parse_profiles(const std::string& text) {
  std::vector<OptimizationProfile> profiles;
  if (text.empty()) return profiles;
  for (const std::string& p : split(text, '|')) {
    OptimizationProfile profile;
    for (const std::string& r : split(p, ';')) {
      VITRT_ASSIGN_OR_RETURN(InputRange range, parse_input_range(r));
      profile.inputs.push_back(std::move(range));
    }
    profiles.push_back(std::move(profile));
  }
  return profiles;
}

Result<int> select_profile(const std::vector<OptimizationProfile>& profiles,
                           const std::vector<NamedTensor>& inputs) {
  if (profiles.empty()) return 0;
  for (size_t p = 0; p < profiles.size(); ++p) {
    bool fits = true;
    for (const InputRange& r : profiles[p].inputs) {
      for (const NamedTensor& in : inputs) {
        if (in.name == r.input) fits = fits && contains(r, in.tensor.shape());
      }
    }
    if (fits) return static_cast<int>(p);
  }
  // Name the first input that fits none of its ranges (with several inputs, each may fit some
  // profile while no profile fits all: then name the first input of profile 0 that misses).
  for (const NamedTensor& in : inputs) {
    std::string ranges;
    bool fits_any = false, named = false;
    for (size_t p = 0; p < profiles.size(); ++p) {
      for (const InputRange& r : profiles[p].inputs) {
        if (r.input != in.name) continue;
        named = true;
        fits_any = fits_any || contains(r, in.tensor.shape());
        ranges += str_cat(ranges.empty() ? "" : "; ", "profile ", p, ": min ", dims_text(r.min),
                          ", max ", dims_text(r.max));
      }
    }
    if (named && !fits_any) {
      return invalid_argument("input '", in.name, "' has shape ",
                              shape_to_string(in.tensor.shape()),
                              ", outside every optimization profile of the plan (", ranges,
                              "): rebuild the plan with a --profile that covers it");
    }
  }
  return invalid_argument("the inputs' shapes fit no single optimization profile of the plan (",
                          format_profiles(profiles), ")");
}

std::shared_ptr<Engine> engine_with_profiles(std::shared_ptr<Engine> engine,
                                             std::vector<OptimizationProfile> profiles) {
  if (profiles.empty()) return engine;
  return std::make_shared<ProfileCheckingEngine>(std::move(engine), std::move(profiles));
}

}  // namespace vitrt
