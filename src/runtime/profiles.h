// Optimization profiles: per input, the smallest, typical ("opt") and largest shape a plan is
// built for. `vitrt build --profile NAME:min=AxB,opt=CxD,max=ExF` adds one range; giving an
// input a second range starts a second profile (the k-th range of every input forms profile k).
// The builder tunes kernels for each profile's opt shapes and stores the profiles in the plan's
// metadata; the runtime refuses inputs that fit no profile, naming the input and the profiles.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "vitrt/engine.h"
#include "vitrt/status.h"

namespace vitrt {

struct InputRange {
  std::string input;
  std::vector<int64_t> min, opt, max;
};

struct OptimizationProfile {
  std::vector<InputRange> inputs;  // at most one range per input; unnamed inputs are free
};

// The plan metadata key (PlanMetadata::build_options) that holds format_profiles' text.
inline constexpr const char* kProfilesMetadataKey = "profiles";

// Parses one "NAME:min=1x3x224x224,opt=32x3x224x224,max=256x3x224x224" (the three keys in
// any order, each exactly once; min <= opt <= max per dim).
Result<InputRange> parse_input_range(const std::string& spec);
// Groups ranges into profiles: the k-th range given for an input belongs to profile k. Every
// input named must have the same number of ranges.
Result<std::vector<OptimizationProfile>> group_profiles(const std::vector<InputRange>& ranges);
// parse_input_range on each `--profile` spec, then group_profiles.
Result<std::vector<OptimizationProfile>> parse_profile_specs(const std::vector<std::string>& specs);
// Checks profiles against the graph's inputs: names exist, ranks match, static dims equal.
Status check_profiles(const Graph& graph, const std::vector<OptimizationProfile>& profiles);

// "x:min=..,opt=..,max=..;y:...|x:..." (profiles split by '|', inputs by ';'), and back.
std::string format_profiles(const std::vector<OptimizationProfile>& profiles);
Result<std::vector<OptimizationProfile>> parse_profiles(const std::string& text);

// The first profile whose ranges contain every named input's shape; an error naming the
// first input that fits no profile, its shape and every profile's range for it.
Result<int> select_profile(const std::vector<OptimizationProfile>& profiles,
                           const std::vector<NamedTensor>& inputs);

// An engine whose contexts check every run's inputs against `profiles` before running.
std::shared_ptr<Engine> engine_with_profiles(std::shared_ptr<Engine> engine,
                                             std::vector<OptimizationProfile> profiles);

}  // namespace vitrt
