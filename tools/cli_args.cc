// The flag parser of the `vitrt` command.
#include "cli_args.h"

#include <charconv>
#include <cstdio>

namespace vitrt::cli {

Result<CliArgs> CliArgs::parse(const std::vector<std::string>& args,
                               const std::vector<FlagSpec>& specs) {
  CliArgs out;
  for (const std::string& a : args) {
    if (a == "--help" || a == "-h") {
      out.help_ = true;
      return out;
    }
  }
  auto find_spec = [&](const std::string& word) -> const FlagSpec* {
    for (const FlagSpec& s : specs) {
      if (word == s.name || (!s.alias.empty() && word == s.alias)) return &s;
    }
    return nullptr;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& word = args[i];
    if (word.size() < 2 || word[0] != '-' || word == "--") {
      if (word == "--") {
        for (size_t k = i + 1; k < args.size(); ++k) out.positionals_.push_back(args[k]);
        break;
      }
      out.positionals_.push_back(word);
      continue;
    }
    std::string name = word;
    std::string value;
    bool inline_value = false;
    const size_t eq = word.find('=');
    if (word.rfind("--", 0) == 0 && eq != std::string::npos) {
      name = word.substr(0, eq);
      value = word.substr(eq + 1);
      inline_value = true;
    }
    const FlagSpec* spec = find_spec(name);
    if (spec == nullptr) return invalid_argument("unknown flag '", name, "'");
    if (spec->takes_value) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return invalid_argument("flag '", name, "' needs a value");
        value = args[++i];
      }
    } else if (inline_value) {
      return invalid_argument("flag '", name, "' takes no value");
    }
    std::vector<std::string>& slot = out.values_[spec->name];
    if (!slot.empty() && !spec->repeatable) {
      return invalid_argument("flag '", spec->name, "' is given more than once");
    }
    slot.push_back(value);
  }
  return out;
}

std::string CliArgs::get(const std::string& flag, const std::string& fallback) const {
  auto it = values_.find(flag);
  return it == values_.end() || it->second.empty() ? fallback : it->second.back();
}

std::vector<std::string> CliArgs::get_all(const std::string& flag) const {
  auto it = values_.find(flag);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

Result<int64_t> CliArgs::get_int(const std::string& flag, int64_t fallback, int64_t min_value,
                                 int64_t max_value) const {
  if (!has(flag)) return fallback;
  const std::string text = get(flag);
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return invalid_argument("flag '", flag, "' needs an integer, got '", text, "'");
  }
  if (v < min_value || v > max_value) {
    return invalid_argument("flag '", flag, "' is ", v, ", expected ", min_value, "..", max_value);
  }
  return v;
}

Result<std::pair<std::string, std::string>> split_assignment(const std::string& text,
                                                             const std::string& flag) {
  const size_t eq = text.rfind('=');
  if (eq == std::string::npos || eq == 0 || eq + 1 == text.size()) {
    return invalid_argument("flag '", flag, "' expects NAME=VALUE, got '", text, "'");
  }
  return std::make_pair(text.substr(0, eq), text.substr(eq + 1));
}

int usage_error(const std::string& command, const std::string& message) {
  std::fprintf(stderr, "vitrt %s: %s\nRun 'vitrt %s --help' for usage.\n", command.c_str(),
               message.c_str(), command.c_str());
  return kExitUsage;
}

int failure(const std::string& command, const Status& status) {
  std::fprintf(stderr, "vitrt %s: %s\n", command.c_str(), status.to_string().c_str());
  return kExitFailure;
}

}  // namespace vitrt::cli
