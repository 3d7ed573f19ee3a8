// UTF-8 <-> code points. The text cleaning rules work on code points (as Python's str does), so
// the tokenizer decodes once, cleans, and encodes each pre-token back to bytes for the BPE.
#pragma once

#include <string>
#include <string_view>

#include "vitrt/status.h"

namespace vitrt::text {

// Strict decoding: overlong forms, surrogates, code points above U+10FFFF and truncated
// sequences are errors naming the byte offset (open_clip gets its text as a Python str, which
// cannot hold malformed UTF-8 either).
Result<std::u32string> decode_utf8(std::string_view bytes);

// Appends the UTF-8 form of `code_point` (which must be a valid scalar value) to `out`.
void append_utf8(char32_t code_point, std::string& out);
std::string encode_utf8(std::u32string_view text);

}  // namespace vitrt::text
