// The part of ftfy.fix_text (ftfy 6, default settings) that open_clip's text cleaning relies on.
//
// Applied, in ftfy's order and repeated until the text stops changing, on each line separately:
// HTML references (&amp; &EACUTE; &#x2019;; skipped from the first line holding a '<' on, as
// ftfy guesses that text is HTML), C1 controls read as Windows-1252, Latin ligatures split
// (ﬁ -> fi), fullwidth/halfwidth forms to standard width (and U+3000 to a space), curly quotes
// straightened, line breaks to \n, ANSI terminal escapes and invisible control characters
// removed, NFC.
//
// Not applied: ftfy's mojibake repair (re-decoding text that was UTF-8 read as Windows-1252,
// Latin-1 or MacRoman, guided by its "badness" heuristic). Text that ftfy would repair comes
// out of here unchanged, so its tokens differ from open_clip's; tests/data/tokenizer says how
// often that happens on the reference strings. Lone surrogates cannot occur: text reaches this
// code as valid Unicode scalar values.
#pragma once

#include <string>

namespace vitrt::text {

std::u32string ftfy_fix_text(const std::u32string& text);

}  // namespace vitrt::text
