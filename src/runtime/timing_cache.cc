// The timing cache file (see timing_cache.h).
#include "runtime/timing_cache.h"

#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/checksum.h"

namespace vitrt {
namespace {

constexpr const char* kHeader = "vitrt-timing-cache 1 ";

bool clean(const std::string& s) {
  return !s.empty() && s.find_first_of("\t\n\r") == std::string::npos;
}

}  // namespace

TimingCache TimingCache::load(const std::string& path, std::string* warning) {
  warning->clear();
  TimingCache cache;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) return cache;
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  if (!in.good() && !in.eof()) {
    *warning = str_cat("timing cache '", path, "' could not be read; timing every shape again");
    return cache;
  }
  const std::string text = ss.str();
  const auto ignore = [&](const std::string& why) {
    *warning = str_cat("timing cache '", path, "' ignored (", why, "); timing every shape again");
    return TimingCache();
  };
  const size_t eol = text.find('\n');
  if (eol == std::string::npos || text.compare(0, std::strlen(kHeader), kHeader) != 0) {
    return ignore("not a vitrt timing cache, or another version of one");
  }
  const std::string crc_text = text.substr(std::strlen(kHeader), eol - std::strlen(kHeader));
  const std::string body = text.substr(eol + 1);
  char expected[16];
  std::snprintf(expected, sizeof(expected), "%08" PRIx32, crc32c(body.data(), body.size()));
  if (crc_text != expected) return ignore("checksum mismatch: the file was changed or cut short");
  std::istringstream lines(body);
  std::string line;
  while (std::getline(lines, line)) {
    const size_t tab = line.find('\t');
    if (tab == std::string::npos) return ignore("a line without a tab");
    Status put = cache.put(line.substr(0, tab), line.substr(tab + 1));
    if (!put.ok()) return ignore(put.message());
  }
  return cache;
}

Status TimingCache::save(const std::string& path) const {
  std::string body;
  for (const auto& [key, value] : entries_) body += str_cat(key, "\t", value, "\n");
  char crc[16];
  std::snprintf(crc, sizeof(crc), "%08" PRIx32, crc32c(body.data(), body.size()));
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << kHeader << crc << "\n" << body;
    if (!out.good()) return io_error("cannot write timing cache '", tmp, "'");
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) return io_error("cannot rename '", tmp, "' to '", path, "': ", ec.message());
  return Status::ok_status();
}

const std::string* TimingCache::find(const std::string& key) const {
  auto it = entries_.find(key);
  return it == entries_.end() ? nullptr : &it->second;
}

Status TimingCache::put(const std::string& key, const std::string& value) {
  if (!clean(key) || !clean(value)) {
    return invalid_argument("timing cache entry '", key, "' has an empty part, a tab or a newline");
  }
  entries_[key] = value;
  return Status::ok_status();
}

}  // namespace vitrt
