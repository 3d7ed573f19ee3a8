// ftfy.fix_text without the mojibake repair (fix_text.h).
#include "text/fix_text.h"

#include <algorithm>
#include <array>
#include <map>

#include "text/html_unescape.h"
#include "text/unicode_rules.h"
#include "text/utf8.h"

namespace vitrt::text {
namespace {

// ftfy fixes text in segments of at most this many code points (ending at a line break when
// one comes first), to bound the cost of its heuristics.
constexpr size_t kMaxSegmentLength = 1000000;

// Windows-1252's meaning for bytes 0x80..0x9F; the five bytes it leaves undefined keep their
// Latin-1 meaning (ftfy's "sloppy" Windows-1252).
constexpr std::array<char32_t, 32> kWindows1252C1 = {
    0x20AC, 0x81,   0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
    0x2039, 0x0152, 0x8D,   0x017D, 0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
    0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0x9D,   0x017E, 0x0178};

std::u32string fix_c1_controls(const std::u32string& text) {
  std::u32string out = text;
  for (char32_t& c : out) {
    if (c >= 0x80 && c <= 0x9F) c = kWindows1252C1[c - 0x80];
  }
  return out;
}

// The bytes `text` is in Latin-1 (`windows_1252` false) or in ftfy's "sloppy" Windows-1252
// (true); false when some character has no byte there.
bool encode_single_byte(const std::u32string& text, bool windows_1252, std::string& bytes) {
  bytes.clear();
  bytes.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x80 || (c >= 0xA0 && c <= 0xFF)) {
      bytes.push_back(static_cast<char>(c));
      continue;
    }
    if (!windows_1252) {
      if (c > 0xFF) return false;
      bytes.push_back(static_cast<char>(c));
      continue;
    }
    auto it = std::find(kWindows1252C1.begin(), kWindows1252C1.end(), c);
    if (it == kWindows1252C1.end()) return false;
    bytes.push_back(static_cast<char>(0x80 + (it - kWindows1252C1.begin())));
  }
  return true;
}

// The commonest mojibake: UTF-8 bytes decoded as Latin-1 or Windows-1252 ("cafÃ©" for "café",
// "donâ€™t" for "don't"). When the text's bytes in one of those encodings (tried in ftfy's
// order) are valid UTF-8, they are what was meant. ftfy tries this only when its badness
// heuristic flags the text, and tries further encodings (other Windows code pages, MacRoman,
// CP437) and partial repairs; fix_text.h gives the measured agreement with ftfy.
std::u32string fix_utf8_read_as_single_byte(const std::u32string& text) {
  if (std::all_of(text.begin(), text.end(), [](char32_t c) { return c < 0x80; })) return text;
  std::string bytes;
  for (bool windows_1252 : {false, true}) {
    if (!encode_single_byte(text, windows_1252, bytes)) continue;
    Result<std::u32string> decoded = decode_utf8(bytes);
    if (decoded.ok()) return std::move(*decoded);
  }
  return text;
}

// Latin ligatures and the legacy digraph letters (Dutch ĳ, Serbo-Croatian ǆ ǉ ǌ ǳ, Afrikaans ŉ)
// that ftfy takes apart; æ, œ and non-Latin ligatures are left alone, as ftfy does.
const std::map<char32_t, std::u32string>& latin_ligatures() {
  static const std::map<char32_t, std::u32string> table = {
      {0x0132, U"IJ"},      {0x0133, U"ij"}, {0x0149, U"\u02BCn"}, {0x01F1, U"DZ"},
      {0x01F2, U"Dz"},      {0x01F3, U"dz"}, {0x01C4, U"D\u017D"}, {0x01C5, U"D\u017E"},
      {0x01C6, U"d\u017E"}, {0x01C7, U"LJ"}, {0x01C8, U"Lj"},      {0x01C9, U"lj"},
      {0x01CA, U"NJ"},      {0x01CB, U"Nj"}, {0x01CC, U"nj"},      {0xFB00, U"ff"},
      {0xFB01, U"fi"},      {0xFB02, U"fl"}, {0xFB03, U"ffi"},     {0xFB04, U"ffl"},
      {0xFB05, U"\u017Ft"}, {0xFB06, U"st"}};
  return table;
}

std::u32string fix_latin_ligatures(const std::u32string& text) {
  const auto& table = latin_ligatures();
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    auto it = (c >= 0x0132 && c <= 0xFB06) ? table.find(c) : table.end();
    if (it != table.end()) {
      out += it->second;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// Halfwidth and fullwidth forms (U+FF01..U+FFEF) to their NFKC equivalents, and the
// ideographic space to a plain space.
constexpr char32_t kWidthFormsBegin = 0xFF01;
constexpr char32_t kWidthFormsEnd = 0xFFF0;

const std::array<std::u32string, kWidthFormsEnd - kWidthFormsBegin>& width_forms() {
  static const auto table = [] {
    std::array<std::u32string, kWidthFormsEnd - kWidthFormsBegin> t;
    for (char32_t c = kWidthFormsBegin; c < kWidthFormsEnd; ++c) {
      t[c - kWidthFormsBegin] = normalize_nfkc(std::u32string(1, c));
    }
    return t;
  }();
  return table;
}

std::u32string fix_character_width(const std::u32string& text) {
  const auto& table = width_forms();
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c == 0x3000) {
      out.push_back(U' ');
    } else if (c >= kWidthFormsBegin && c < kWidthFormsEnd) {
      out += table[c - kWidthFormsBegin];
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::u32string uncurl_quotes(const std::u32string& text) {
  std::u32string out = text;
  for (char32_t& c : out) {
    if (c == 0x02BC || (c >= 0x2018 && c <= 0x201B)) {
      c = U'\'';
    } else if (c >= 0x201C && c <= 0x201F) {
      c = U'"';
    }
  }
  return out;
}

std::u32string fix_line_breaks(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char32_t c = text[i];
    if (c == U'\r') {
      if (i + 1 < text.size() && text[i + 1] == U'\n') ++i;
      out.push_back(U'\n');
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) {
      out.push_back(U'\n');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// ESC [ (digits or ';')* letter: the ANSI colour and cursor sequences terminals interpret.
std::u32string remove_terminal_escapes(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    if (text[i] == 0x1B && i + 1 < text.size() && text[i + 1] == U'[') {
      size_t j = i + 2;
      while (j < text.size() && (text[j] == U';' || is_decimal_digit(text[j]))) ++j;
      const char32_t last = j < text.size() ? text[j] : 0;
      if ((last >= U'a' && last <= U'z') || (last >= U'A' && last <= U'Z')) {
        i = j + 1;
        continue;
      }
    }
    out.push_back(text[i++]);
  }
  return out;
}

// Control characters nobody means to keep: C0 controls other than \t \n \f \r, DEL, the
// deprecated Arabic format controls, the interlinear annotation marks, U+FFFC and the BOM.
// C1 controls stay (fix_c1_controls maps them); joiners, direction marks and tags stay.
bool is_removed_control(char32_t c) {
  return c <= 0x08 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F ||
         (c >= 0x206A && c <= 0x206F) || c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

std::u32string remove_control_chars(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (!is_removed_control(c)) out.push_back(c);
  }
  return out;
}

std::u32string fix_segment(std::u32string text, bool unescape_html) {
  while (true) {
    const std::u32string before = text;
    if (unescape_html) text = ftfy_unescape_html(text);
    text = fix_utf8_read_as_single_byte(text);
    text = fix_c1_controls(text);
    text = fix_latin_ligatures(text);
    text = fix_character_width(text);
    text = uncurl_quotes(text);
    text = fix_line_breaks(text);
    text = remove_terminal_escapes(text);
    text = remove_control_chars(text);
    text = normalize_nfc(text);
    if (text == before) return text;
  }
}

}  // namespace

std::u32string ftfy_fix_text(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  // Once a segment holds '<', ftfy takes the text for HTML and stops decoding references in
  // that segment and every later one.
  bool unescape_html = true;
  size_t pos = 0;
  while (pos < text.size()) {
    const size_t line_break = text.find(U'\n', pos);
    size_t end = line_break == std::u32string::npos ? text.size() : line_break + 1;
    if (end - pos > kMaxSegmentLength) end = pos + kMaxSegmentLength;
    std::u32string segment = text.substr(pos, end - pos);
    if (unescape_html && segment.find(U'<') != std::u32string::npos) unescape_html = false;
    out += fix_segment(std::move(segment), unescape_html);
    pos = end;
  }
  return out;
}

}  // namespace vitrt::text
