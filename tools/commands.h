// The `vitrt` subcommands, one file each. Each takes the words after its name and returns the
// process exit status (cli_args.h).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "vitrt/engine.h"

namespace vitrt::cli {

int build_command(const std::vector<std::string>& args);
int run_command(const std::vector<std::string>& args);
int inspect_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args);
// `vitrt eval`: a plan's outputs against the FP32 ONNX model over a data set (eval_command.cc).
int eval_command(const std::vector<std::string>& args);
// `vitrt clip tokenize|...`: dispatches to the CLIP subcommands (clip_command.cc).
int clip_command(const std::vector<std::string>& args);
// `vitrt clip preprocess` (dispatched from `vitrt clip`).
int clip_preprocess_command(const std::vector<std::string>& args);
// `vitrt clip embed|classify|rank` (dispatched from `vitrt clip`).
int clip_embed_command(const std::vector<std::string>& args);
int clip_classify_command(const std::vector<std::string>& args);
int clip_rank_command(const std::vector<std::string>& args);
// `vitrt serve`: the HTTP inference server (serve_command.cc).
int serve_command(const std::vector<std::string>& args);
// `vitrt perf`: load sweep against a running server (perf_command.cc).
int perf_command(const std::vector<std::string>& args);

// Loads a plan, or an ONNX model when the file is not a plan (run and bench accept both).
Result<std::shared_ptr<Engine>> load_model(const std::string& path);

}  // namespace vitrt::cli
