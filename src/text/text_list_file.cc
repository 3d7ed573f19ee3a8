// Lists of texts from .json arrays or line-per-text files (text_list_file.h).
#include "text/text_list_file.h"

#include <filesystem>
#include <fstream>
#include <iterator>

#include "text/utf8.h"

namespace vitrt::text {
namespace {

bool is_json_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

void skip_json_space(std::string_view json, size_t& pos) {
  while (pos < json.size() && is_json_space(json[pos])) ++pos;
}

Result<uint32_t> parse_hex4(std::string_view json, size_t pos) {
  if (pos + 4 > json.size()) return invalid_argument("truncated \\u escape at offset ", pos);
  uint32_t value = 0;
  for (size_t i = pos; i < pos + 4; ++i) {
    const char c = json[i];
    uint32_t digit = 0;
    if (c >= '0' && c <= '9') {
      digit = c - '0';
    } else if (c >= 'a' && c <= 'f') {
      digit = c - 'a' + 10;
    } else if (c >= 'A' && c <= 'F') {
      digit = c - 'A' + 10;
    } else {
      return invalid_argument("bad hex digit in \\u escape at offset ", i);
    }
    value = value * 16 + digit;
  }
  return value;
}

}  // namespace

Result<std::string> parse_json_string(std::string_view json, size_t& pos) {
  if (pos >= json.size() || json[pos] != '"') {
    return invalid_argument("expected a string at offset ", pos);
  }
  const size_t start = pos++;
  std::string out;
  while (true) {
    if (pos >= json.size())
      return invalid_argument("unterminated string starting at offset ", start);
    const char c = json[pos];
    if (c == '"') {
      ++pos;
      break;
    }
    if (static_cast<unsigned char>(c) < 0x20) {
      return invalid_argument("unescaped control character in string at offset ", pos);
    }
    if (c != '\\') {
      out.push_back(c);
      ++pos;
      continue;
    }
    if (pos + 1 >= json.size()) return invalid_argument("truncated escape at offset ", pos);
    const char e = json[pos + 1];
    pos += 2;
    switch (e) {
      case '"':
        out.push_back('"');
        break;
      case '\\':
        out.push_back('\\');
        break;
      case '/':
        out.push_back('/');
        break;
      case 'b':
        out.push_back('\b');
        break;
      case 'f':
        out.push_back('\f');
        break;
      case 'n':
        out.push_back('\n');
        break;
      case 'r':
        out.push_back('\r');
        break;
      case 't':
        out.push_back('\t');
        break;
      case 'u': {
        VITRT_ASSIGN_OR_RETURN(uint32_t unit, parse_hex4(json, pos));
        pos += 4;
        char32_t cp = unit;
        if (unit >= 0xD800 && unit <= 0xDBFF && pos + 6 <= json.size() && json[pos] == '\\' &&
            json[pos + 1] == 'u') {
          VITRT_ASSIGN_OR_RETURN(uint32_t low, parse_hex4(json, pos + 2));
          if (low >= 0xDC00 && low <= 0xDFFF) {
            cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
            pos += 6;
          }
        }
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        append_utf8(cp, out);
        break;
      }
      default:
        return invalid_argument("unknown escape '\\", std::string(1, e), "' at offset ", pos - 2);
    }
  }
  if (Result<std::u32string> valid = decode_utf8(out); !valid.ok()) {
    return invalid_argument("string at offset ", start, ": ", valid.status().message());
  }
  return out;
}

Result<std::vector<std::string>> parse_json_string_array(std::string_view json) {
  size_t pos = 0;
  // Editors on Windows often start UTF-8 files with a byte-order mark; it is not text.
  if (json.substr(0, 3) == "\xEF\xBB\xBF") pos = 3;
  skip_json_space(json, pos);
  if (pos >= json.size() || json[pos] != '[') {
    return invalid_argument("expected a JSON array of strings ('[') at offset ", pos);
  }
  ++pos;
  std::vector<std::string> texts;
  skip_json_space(json, pos);
  if (pos < json.size() && json[pos] == ']') {
    ++pos;
  } else {
    while (true) {
      skip_json_space(json, pos);
      if (pos < json.size() && json[pos] != '"') {
        return invalid_argument("element ", texts.size(), " at offset ", pos,
                                " is not a string (expected a JSON array of strings)");
      }
      VITRT_ASSIGN_OR_RETURN(std::string text, parse_json_string(json, pos));
      texts.push_back(std::move(text));
      skip_json_space(json, pos);
      if (pos < json.size() && json[pos] == ',') {
        ++pos;
        continue;
      }
      if (pos < json.size() && json[pos] == ']') {
        ++pos;
        break;
      }
      return invalid_argument("expected ',' or ']' at offset ", pos);
    }
  }
  skip_json_space(json, pos);
  if (pos != json.size())
    return invalid_argument("unexpected text after the array at offset ", pos);
  return texts;
}

Result<std::vector<std::string>> read_text_list_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return not_found("texts file '", path, "' does not exist or is not a file");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return io_error("cannot open texts file '", path, "'");
  const std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (in.bad()) return io_error("cannot read texts file '", path, "'");

  if (std::filesystem::path(path).extension() == ".json") {
    Result<std::vector<std::string>> texts = parse_json_string_array(data);
    if (!texts.ok()) return texts.status().with_context(str_cat("texts file '", path, "'"));
    return texts;
  }
  std::vector<std::string> texts;
  size_t begin = 0;
  while (begin < data.size()) {
    size_t end = data.find('\n', begin);
    if (end == std::string::npos) end = data.size();
    std::string line = data.substr(begin, end - begin);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (Result<std::u32string> valid = decode_utf8(line); !valid.ok()) {
      return invalid_argument("texts file '", path, "' line ", texts.size() + 1, ": ",
                              valid.status().message());
    }
    texts.push_back(std::move(line));
    begin = end + 1;
  }
  return texts;
}

}  // namespace vitrt::text
