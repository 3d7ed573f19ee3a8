// Runs an ONNX model file through vitrt's CPU engine the two ways a user can build it.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "testing/compare.h"
#include "vitrt/engine.h"

namespace vitrt::testing {

// Runs the model at `path` on `feeds`, without and with the optimizer, and expects output 0
// within `rel` of `expected`'s scale both times.
inline void expect_model_output_both_ways(const std::string& path,
                                          const std::vector<NamedTensor>& feeds,
                                          const Tensor& expected, double rel) {
  for (bool optimize : {false, true}) {
    BuildOptions options;
    options.optimize = optimize;
    Result<std::shared_ptr<Engine>> engine = Engine::from_onnx(path, options);
    ASSERT_TRUE(engine.ok()) << engine.status().to_string();
    Result<std::vector<NamedTensor>> out = (*engine)->create_context()->run(feeds);
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    EXPECT_TRUE(tensors_close_to_scale((*out)[0].tensor, expected, rel))
        << path << ", optimize=" << optimize;
  }
}

}  // namespace vitrt::testing
