// ICU-backed Unicode operations (unicode_rules.h).
#include "text/unicode_rules.h"

#include <unicode/uchar.h>
#include <unicode/unorm2.h>
#include <unicode/ustring.h>
#include <unicode/utf16.h>

#include <vector>

namespace vitrt::text {
namespace {

std::u16string to_utf16(const std::u32string& text) {
  std::u16string out;
  out.reserve(text.size());
  for (char32_t c : text) {
    if (c < 0x10000) {
      out.push_back(static_cast<char16_t>(c));
    } else {
      out.push_back(static_cast<char16_t>(U16_LEAD(c)));
      out.push_back(static_cast<char16_t>(U16_TRAIL(c)));
    }
  }
  return out;
}

std::u32string to_utf32(const std::u16string& text) {
  std::u32string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char16_t unit = text[i];
    if (U16_IS_LEAD(unit) && i + 1 < text.size() && U16_IS_TRAIL(text[i + 1])) {
      out.push_back(U16_GET_SUPPLEMENTARY(unit, text[i + 1]));
      ++i;
    } else {
      out.push_back(unit);
    }
  }
  return out;
}

// Runs an ICU "preflight then fill" string function: the first call reports the size needed.
template <typename Fn>
std::u32string transform_utf16(const std::u32string& text, Fn fn) {
  const std::u16string in = to_utf16(text);
  std::u16string out(in.size() + 16, u'\0');
  UErrorCode status = U_ZERO_ERROR;
  int32_t length = fn(in, out, &status);
  if (status == U_BUFFER_OVERFLOW_ERROR) {
    out.assign(static_cast<size_t>(length), u'\0');
    status = U_ZERO_ERROR;
    length = fn(in, out, &status);
  }
  // ICU's normalizers and case mappers fail only on allocation failure or malformed input,
  // and their input here is well-formed UTF-16; keep the text unchanged rather than lose it.
  if (U_FAILURE(status)) return text;
  out.resize(static_cast<size_t>(length));
  return to_utf32(out);
}

std::u32string normalize(const std::u32string& text, const UNormalizer2* normalizer) {
  if (normalizer == nullptr) return text;
  return transform_utf16(
      text, [&](const std::u16string& in, std::u16string& out, UErrorCode* status) {
        return unorm2_normalize(
            normalizer, reinterpret_cast<const UChar*>(in.data()), static_cast<int32_t>(in.size()),
            reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()), status);
      });
}

}  // namespace

std::u32string normalize_nfc(const std::u32string& text) {
  UErrorCode status = U_ZERO_ERROR;
  static const UNormalizer2* nfc = unorm2_getNFCInstance(&status);
  return normalize(text, nfc);
}

std::u32string normalize_nfkc(const std::u32string& text) {
  UErrorCode status = U_ZERO_ERROR;
  static const UNormalizer2* nfkc = unorm2_getNFKCInstance(&status);
  return normalize(text, nfkc);
}

std::u32string to_lower(const std::u32string& text) {
  // The root locale: no Turkish or Lithuanian tailoring, as in Python.
  return transform_utf16(
      text, [](const std::u16string& in, std::u16string& out, UErrorCode* status) {
        return u_strToLower(reinterpret_cast<UChar*>(out.data()), static_cast<int32_t>(out.size()),
                            reinterpret_cast<const UChar*>(in.data()),
                            static_cast<int32_t>(in.size()), "", status);
      });
}

bool is_white_space(char32_t c) {
  return u_hasBinaryProperty(c, UCHAR_WHITE_SPACE);
}

bool is_python_space(char32_t c) {
  return (c >= 0x1C && c <= 0x1F) || is_white_space(c);
}

bool is_letter(char32_t c) {
  return (U_GET_GC_MASK(c) & U_GC_L_MASK) != 0;
}

bool is_number(char32_t c) {
  return (U_GET_GC_MASK(c) & U_GC_N_MASK) != 0;
}

bool is_decimal_digit(char32_t c) {
  return u_charType(c) == U_DECIMAL_DIGIT_NUMBER;
}

char32_t fold_case(char32_t c) {
  return u_foldCase(c, U_FOLD_CASE_DEFAULT);
}

}  // namespace vitrt::text
