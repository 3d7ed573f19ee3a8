// Reading a list of texts for `vitrt clip tokenize`: a JSON array of strings, or one text per
// line (CLI.md).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "vitrt/status.h"

namespace vitrt::text {

// A file whose name ends in ".json" must hold one JSON array of strings; any other file is read
// as lines (split at '\n'; a '\r' before it is dropped; a final line break does not start another
// text). Errors name the file and the line or offset at fault. Texts must be valid UTF-8.
Result<std::vector<std::string>> read_text_list_file(const std::string& path);

Result<std::vector<std::string>> parse_json_string_array(std::string_view json);

// Parses the JSON string literal starting at json[pos] == '"' into UTF-8 and moves `pos` past it.
// \u escapes may form surrogate pairs; a lone surrogate becomes U+FFFD (what ftfy makes of it).
Result<std::string> parse_json_string(std::string_view json, size_t& pos);

}  // namespace vitrt::text
