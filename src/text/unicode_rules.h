// The Unicode operations open_clip's tokenizer gets from Python (str.lower, unicodedata's
// normalization, the `regex` module's \p{L} and \p{N}), here from ICU. Results can differ only
// for characters the Unicode versions assign differently: compared over every code point, ICU 72
// (Unicode 15.0) and regex 2026.5.9 put each character Python 3.11 knows (Unicode 14.0) in the
// same class (letter, number, space, other); 9,661 code points assigned since Unicode 15.1 are
// letters or numbers to regex but unassigned (other) to ICU 72.
#pragma once

#include <string>

namespace vitrt::text {

std::u32string normalize_nfc(const std::u32string& text);
std::u32string normalize_nfkc(const std::u32string& text);
// Python's str.lower(): full lower-case mapping (U+0130 -> "i\u0307") with the final-sigma rule.
std::u32string to_lower(const std::u32string& text);

// Python's str.isspace(): Unicode White_Space plus the separators U+001C..U+001F.
bool is_python_space(char32_t c);
// \s of the `regex` module: Unicode White_Space.
bool is_white_space(char32_t c);
bool is_letter(char32_t c);         // general category L*
bool is_number(char32_t c);         // general category N*
bool is_decimal_digit(char32_t c);  // general category Nd (Python re's \d)
// Simple case folding, as case-insensitive matching of a literal compares characters.
char32_t fold_case(char32_t c);

}  // namespace vitrt::text
