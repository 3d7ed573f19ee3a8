// The CUDA test binary's main: registers the CUDA backend so that plans built for 'cuda' load.
#include <gtest/gtest.h>

#include "cuda/cuda_engine.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  vitrt::cuda::register_cuda_backend();
  return RUN_ALL_TESTS();
}
