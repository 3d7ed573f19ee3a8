// The timing cache: what build-time tactic selection measured, kept in a file so that a rebuild
// on the same GPU skips the timing (`vitrt build --timing-cache FILE`). Entries map a key that
// names everything the measurement depends on (GPU, architecture, library version, problem
// shape, dtype, epilogue) to the choice, both as text the backend writes and reads.
//
// File: a first line "vitrt-timing-cache 1 <CRC-32C of the rest, 8 hex digits>", then one
// "key<TAB>value" line per entry. A file that fails any check is ignored as a whole with a
// warning: a cache only saves time, so it must never stop a build.
#pragma once

#include <map>
#include <string>

#include "vitrt/status.h"

namespace vitrt {

class TimingCache {
 public:
  // Reads `path`. A missing file is an empty cache; an unreadable or corrupt one is an empty
  // cache and a warning in `warning` (empty when there is nothing to say).
  static TimingCache load(const std::string& path, std::string* warning);
  // Writes every entry (through a temporary file renamed into place).
  Status save(const std::string& path) const;

  const std::string* find(const std::string& key) const;
  // Keys and values must hold no tab or newline (they would break the line format).
  Status put(const std::string& key, const std::string& value);
  size_t size() const { return entries_.size(); }

 private:
  std::map<std::string, std::string> entries_;
};

}  // namespace vitrt
