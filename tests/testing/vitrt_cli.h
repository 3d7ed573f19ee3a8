// Running the `vitrt` binary from a test (VITRT_BINARY, set by tests/CMakeLists.txt).
#pragma once

#include <sys/wait.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace vitrt::testing {

struct CliOutput {
  int exit_code = -1;
  std::string text;  // stdout and stderr
};

// Runs `vitrt ARGS` (a shell-quoted argument string) with stdout and stderr captured through
// DIR/log.txt; a signal shows as 128 + its number.
inline CliOutput run_vitrt(const std::string& args, const std::filesystem::path& dir) {
  const std::string log = (dir / "log.txt").string();
  const std::string cmd = std::string("'") + VITRT_BINARY + "' " + args + " >'" + log + "' 2>&1";
  const int status = std::system(cmd.c_str());
  CliOutput o;
  o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  std::ifstream in(log);
  o.text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  return o;
}

inline bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

}  // namespace vitrt::testing
