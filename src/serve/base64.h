// Standard base64 (RFC 4648, with padding): image data URIs in, base64 embeddings out.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace vitrt::serve {

std::string base64_encode(std::string_view bytes);
// nullopt on a character outside the alphabet or a bad length/padding. Whitespace is not
// accepted (data URIs carry none).
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace vitrt::serve
