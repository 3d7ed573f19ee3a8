// Decoding of HTML character references, in the two flavours open_clip's text cleaning applies:
// ftfy's cautious one (inside ftfy.fix_text) and Python's html.unescape (twice, afterwards).
#pragma once

#include <string>

namespace vitrt::text {

// Python's html.unescape: numeric references (&#233; &#xE9;, with or without ';', invalid
// numbers mapped as the HTML standard says), named references from the HTML5 list, and the
// legacy names browsers accept without ';' as the longest known prefix ("&ampx" -> "&x").
std::u32string python_html_unescape(const std::u32string& text);

// ftfy's unescape_html: only references of the form &[#]ALNUM{1,24}; are decoded, named ones
// when they are in the HTML5 list or an all-caps spelling of a lower-case one (&EACUTE; -> É),
// numeric ones when html.unescape decodes them completely.
std::u32string ftfy_unescape_html(const std::u32string& text);

}  // namespace vitrt::text
