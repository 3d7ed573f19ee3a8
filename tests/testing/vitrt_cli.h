// Running the `vitrt` binary from a test (VITRT_BINARY, set by tests/CMakeLists.txt), the way a
// user types it: the arguments go through the shell, so globs work and paths need their quotes.
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace vitrt::testing {

struct CliOutput {
  int exit_code = -1;  // a signal shows as 128 + its number
  std::string out;     // stdout
  std::string err;     // stderr
  // stdout then stderr, for a test that checks a message whichever stream it goes to.
  std::string text;
};

// A variable set for the one command, e.g. {"VITRT_CLIP_VOCAB", path}.
struct EnvVar {
  std::string name;
  std::string value;
};

inline std::string read_file_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `vitrt ARGS` (a shell-quoted argument string) with ENV added to its environment; stdout
// and stderr are captured through DIR/stdout.txt and DIR/stderr.txt (overwritten by each run).
inline CliOutput run_vitrt(const std::string& args, const std::filesystem::path& dir,
                           const std::vector<EnvVar>& env = {}) {
  const std::filesystem::path out = dir / "stdout.txt", err = dir / "stderr.txt";
  std::string cmd;
  for (const EnvVar& var : env) {
    // Single quotes keep the value literal; a quote inside it closes, escapes and reopens.
    std::string quoted;
    for (const char c : var.value) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
    cmd += var.name + "='" + quoted + "' ";
  }
  cmd += std::string("'") + VITRT_BINARY + "' " + args + " >'" + out.string() + "' 2>'" +
         err.string() + "'";
  const int status = std::system(cmd.c_str());
  CliOutput o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  o.out = read_file_text(out);
  o.err = read_file_text(err);
  o.text = o.out + o.err;
  return o;
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

// The JSON report a `--json` command prints as its last line of `out`.
inline nlohmann::json last_line_json(const std::string& out) {
  std::string last = out;
  while (!last.empty() && last.back() == '\n') last.pop_back();
  return nlohmann::json::parse(last.substr(last.rfind('\n') + 1));
}

}  // namespace vitrt::testing
