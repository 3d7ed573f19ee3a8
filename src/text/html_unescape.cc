// HTML character references (html_unescape.h).
#include "text/html_unescape.h"

#include <algorithm>
#include <map>

#include "text/utf8.h"

namespace vitrt::text {
namespace {

struct EntityRow {
  const char* name;   // without the leading '&'
  const char* value;  // UTF-8
  int kind;           // 0: HTML5 list; 1: ftfy's extra all-caps spelling
};

constexpr EntityRow kEntityRows[] = {
#include "text/html_entity_table.inc"
};

std::u32string decode_table_text(const char* s) {
  // The table is generated from valid Unicode, so decoding cannot fail.
  Result<std::u32string> decoded = decode_utf8(s);
  return decoded.ok() ? *decoded : std::u32string();
}

struct EntityTables {
  std::map<std::u32string, std::u32string> html5;  // "amp;" -> "&", "amp" -> "&", ...
  std::map<std::u32string, std::u32string> ftfy;   // "&amp;" -> "&", "&EACUTE;" -> "É", ...
  size_t longest_html5_name = 0;
};

const EntityTables& entity_tables() {
  static const EntityTables tables = [] {
    EntityTables t;
    for (const EntityRow& row : kEntityRows) {
      std::u32string name = decode_table_text(row.name);
      std::u32string value = decode_table_text(row.value);
      if (row.kind == 0) {
        t.longest_html5_name = std::max(t.longest_html5_name, name.size());
        if (!name.empty() && name.back() == U';') t.ftfy[U"&" + name] = value;
        t.html5[std::move(name)] = std::move(value);
      } else {
        t.ftfy[U"&" + name] = std::move(value);
      }
    }
    return t;
  }();
  return tables;
}

bool is_ascii_digit(char32_t c) {
  return c >= U'0' && c <= U'9';
}
bool is_ascii_hex_digit(char32_t c) {
  return is_ascii_digit(c) || (c >= U'a' && c <= U'f') || (c >= U'A' && c <= U'F');
}
bool is_ascii_alnum(char32_t c) {
  return is_ascii_digit(c) || (c >= U'a' && c <= U'z') || (c >= U'A' && c <= U'Z');
}

// The HTML standard's replacements for numeric references to C1 controls (read as
// Windows-1252, as browsers do), NUL and CR.
char32_t numeric_reference_replacement(uint64_t number, bool* found) {
  static constexpr char32_t kC1[32] = {
      0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};
  *found = true;
  if (number == 0x00) return 0xFFFD;
  if (number == 0x0D) return U'\r';
  if (number >= 0x80 && number <= 0x9F) return kC1[number - 0x80];
  *found = false;
  return 0;
}

// Code points a numeric reference may not produce (the standard drops them): C0 controls other
// than whitespace, DEL and C1, noncharacters.
bool is_dropped_code_point(uint64_t n) {
  if ((n >= 0x01 && n <= 0x08) || n == 0x0B || (n >= 0x0E && n <= 0x1F)) return true;
  if (n >= 0x7F && n <= 0x9F) return true;
  if (n >= 0xFDD0 && n <= 0xFDEF) return true;
  return (n & 0xFFFE) == 0xFFFE && n <= 0x10FFFF;
}

// Decodes the numeric reference whose digits are text[begin, end) in `base`.
std::u32string decode_numeric_reference(const std::u32string& text, size_t begin, size_t end,
                                        int base) {
  // Saturate: any number above U+10FFFF maps to U+FFFD, however many digits it has.
  uint64_t number = 0;
  for (size_t i = begin; i < end; ++i) {
    const char32_t c = text[i];
    const uint64_t digit = is_ascii_digit(c) ? c - U'0' : (c | 0x20) - U'a' + 10;
    number = std::min<uint64_t>(number * base + digit, uint64_t{0x7FFFFFFF});
  }
  bool found = false;
  const char32_t replacement = numeric_reference_replacement(number, &found);
  if (found) return std::u32string(1, replacement);
  if ((number >= 0xD800 && number <= 0xDFFF) || number > 0x10FFFF) return U"\uFFFD";
  if (is_dropped_code_point(number)) return U"";
  return std::u32string(1, static_cast<char32_t>(number));
}

// Characters that end a named reference in html.unescape's pattern [^\t\n\f <&#;]{1,32}.
bool ends_reference_name(char32_t c) {
  return c == U'\t' || c == U'\n' || c == U'\f' || c == U' ' || c == U'<' || c == U'&' ||
         c == U'#' || c == U';';
}

// Tries to decode a reference at text[amp] == '&'. On success appends the decoded text to `out`
// and returns the index after the reference; otherwise returns `amp`.
size_t unescape_reference_at(const std::u32string& text, size_t amp, std::u32string& out) {
  const size_t n = text.size();
  size_t i = amp + 1;
  if (i < n && text[i] == U'#') {
    size_t j = i + 1;
    if (j < n && is_ascii_digit(text[j])) {
      while (j < n && is_ascii_digit(text[j])) ++j;
      out += decode_numeric_reference(text, i + 1, j, 10);
    } else if (j + 1 < n && (text[j] == U'x' || text[j] == U'X') &&
               is_ascii_hex_digit(text[j + 1])) {
      const size_t digits = j + 1;
      j = digits;
      while (j < n && is_ascii_hex_digit(text[j])) ++j;
      out += decode_numeric_reference(text, digits, j, 16);
    } else {
      return amp;
    }
    if (j < n && text[j] == U';') ++j;
    return j;
  }
  size_t j = i;
  while (j < n && j - i < 32 && !ends_reference_name(text[j])) ++j;
  if (j == i) return amp;
  const bool has_semicolon = j < n && text[j] == U';';
  const size_t end = has_semicolon ? j + 1 : j;
  const std::u32string name = text.substr(i, end - i);
  const EntityTables& tables = entity_tables();
  if (auto it = tables.html5.find(name); it != tables.html5.end()) {
    out += it->second;
    return end;
  }
  // The longest known prefix of at least two characters, the rest kept as text.
  for (size_t len = std::min(name.size() - 1, tables.longest_html5_name); len >= 2; --len) {
    if (auto it = tables.html5.find(name.substr(0, len)); it != tables.html5.end()) {
      out += it->second;
      out += name.substr(len);
      return end;
    }
  }
  out += U'&';
  out += name;
  return end;
}

}  // namespace

std::u32string python_html_unescape(const std::u32string& text) {
  if (text.find(U'&') == std::u32string::npos) return text;
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == U'&') {
      const size_t next = unescape_reference_at(text, i, out);
      if (next != i) {
        i = next;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

std::u32string ftfy_unescape_html(const std::u32string& text) {
  if (text.find(U'&') == std::u32string::npos) return text;
  const EntityTables& tables = entity_tables();
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] != U'&') {
      out.push_back(text[i++]);
      continue;
    }
    // The pattern &#?[0-9A-Za-z]{1,24};
    size_t j = i + 1;
    const bool numeric = j < text.size() && text[j] == U'#';
    if (numeric) ++j;
    const size_t name_begin = j;
    while (j < text.size() && is_ascii_alnum(text[j])) ++j;
    const size_t name_length = j - name_begin;
    if (name_length < 1 || name_length > 24 || j >= text.size() || text[j] != U';') {
      out.push_back(text[i++]);
      continue;
    }
    const std::u32string reference = text.substr(i, j + 1 - i);
    if (auto it = tables.ftfy.find(reference); it != tables.ftfy.end()) {
      out += it->second;
    } else if (numeric) {
      // Decoded only when html.unescape consumes it whole (no ';' left over).
      const std::u32string decoded = python_html_unescape(reference);
      out += decoded.find(U';') == std::u32string::npos ? decoded : reference;
    } else {
      out += reference;
    }
    i = j + 1;
  }
  return out;
}

}  // namespace vitrt::text
