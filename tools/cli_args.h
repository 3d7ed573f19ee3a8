// A small flag parser shared by the `vitrt` subcommands.
//
// Flags are declared up front; anything undeclared is a usage error (exit status 2). Values
// are given as `--flag value` or `--flag=value`; a flag may have one short alias ("-o").
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::cli {

// Exit statuses of every command (see /work/shared/CLI.md).
inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

struct FlagSpec {
  std::string name;   // "--output"
  std::string alias;  // "-o" or empty
  bool takes_value = true;
  bool repeatable = false;
};

class CliArgs {
 public:
  // Parses `args` (the words after the subcommand). Errors are kInvalidArgument usage errors.
  // "--help" / "-h" anywhere sets help() and skips every other check.
  static Result<CliArgs> parse(const std::vector<std::string>& args,
                               const std::vector<FlagSpec>& specs);

  bool help() const { return help_; }
  const std::vector<std::string>& positionals() const { return positionals_; }
  bool has(const std::string& flag) const { return values_.count(flag) != 0; }
  // The flag's (last) value, or `fallback`.
  std::string get(const std::string& flag, const std::string& fallback = "") const;
  std::vector<std::string> get_all(const std::string& flag) const;
  // An integer flag in [min_value, max_value]; a usage error naming the flag otherwise.
  Result<int64_t> get_int(const std::string& flag, int64_t fallback, int64_t min_value,
                          int64_t max_value) const;

 private:
  bool help_ = false;
  std::vector<std::string> positionals_;
  std::map<std::string, std::vector<std::string>> values_;
};

// Splits "NAME=VALUE" at the last '=' (names may contain '=' only in theory; files rarely do).
// A usage error naming `flag` when there is no '=' or either side is empty.
Result<std::pair<std::string, std::string>> split_assignment(const std::string& text,
                                                             const std::string& flag);

// Prints "vitrt <command>: <message>" and "Run 'vitrt <command> --help' for usage." to stderr
// and returns kExitUsage.
int usage_error(const std::string& command, const std::string& message);
// Prints "vitrt <command>: <status>" to stderr and returns kExitFailure.
int failure(const std::string& command, const Status& status);

}  // namespace vitrt::cli
