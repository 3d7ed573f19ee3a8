// The `vitrt` command: dispatches to one subcommand per file (build, run, inspect, bench, clip).
#include <cstdio>
#include <cstring>
#include <exception>
#include <new>
#include <string>
#include <vector>

#include "cli_args.h"
#include "commands.h"
#include "plan/plan_format.h"
#include "runtime/version.h"
#ifdef VITRT_HAVE_CUDA
#include "cuda/cuda_engine.h"
#endif

namespace {

constexpr const char* kUsage =
    "usage: vitrt <command> [options]\n"
    "\n"
    "commands:\n"
    "  build    compile an ONNX model into a plan file\n"
    "  run      run a plan (or an ONNX model) on .npy inputs, write .npy outputs\n"
    "  inspect  show a model's or plan's inputs, outputs, ops and parameters\n"
    "  bench    time a plan on random inputs (latency percentiles, throughput)\n"
    "  eval     compare a plan's outputs with the FP32 ONNX model over a data set (accuracy)\n"
    "  clip     CLIP: embed, classify, rank, tokenize, preprocess (images and texts in)\n"
    "  serve    HTTP inference server (KServe v2 / Triton protocol) over a model repository\n"
    "  perf     load sweep against a running server: latency percentiles, throughput, chart\n"
    "\n"
    "options:\n"
    "  --version  print the vitrt version and plan format version\n"
    "  --help     show this help; 'vitrt <command> --help' shows a command's options\n"
    "\n"
    "exit status: 0 success, 1 bad input or failure, 2 usage error\n";

int dispatch(int argc, char** argv) {
  using namespace vitrt::cli;
  if (argc < 2) {
    std::fputs(kUsage, stderr);
    return kExitUsage;
  }
  const std::string command = argv[1];
  const std::vector<std::string> args(argv + 2, argv + argc);
  if (command == "--help" || command == "-h" || command == "help") {
    std::fputs(kUsage, stdout);
    return kExitOk;
  }
  if (command == "--version") {
    std::printf("vitrt %s (plan format %u)\n", vitrt::kVitrtVersion, vitrt::kPlanFormatVersion);
    return kExitOk;
  }
  if (command == "build") return build_command(args);
  if (command == "run") return run_command(args);
  if (command == "inspect") return inspect_command(args);
  if (command == "bench") return bench_command(args);
  if (command == "eval") return eval_command(args);
  if (command == "clip") return clip_command(args);
  if (command == "serve") return serve_command(args);
  if (command == "perf") return perf_command(args);
  std::fprintf(stderr, "vitrt: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return kExitUsage;
}

}  // namespace

// The library reports errors as Status values; the only exception that can still escape is
// an allocation failure (a --batch too large for memory, say). Report it instead of aborting.
int main(int argc, char** argv) {
#ifdef VITRT_HAVE_CUDA
  vitrt::cuda::register_cuda_backend();
#endif
  try {
    return dispatch(argc, argv);
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "vitrt: out of memory (try a smaller batch or shape)\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vitrt: internal error: %s\n", e.what());
  }
  return vitrt::cli::kExitFailure;
}
