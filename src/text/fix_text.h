// The part of ftfy.fix_text (ftfy 6, default settings) that open_clip's text cleaning relies on.
//
// Applied, in ftfy's order and repeated until the text stops changing, on each line separately:
// HTML references (&amp; &EACUTE; &#x2019;; skipped from the first line holding a '<' on, as
// ftfy guesses that text is HTML), the commonest mojibake (UTF-8 read as Latin-1 or
// Windows-1252: "cafÃ©" -> "café"), C1 controls read as Windows-1252, Latin ligatures split
// (ﬁ -> fi), fullwidth/halfwidth forms to standard width (and U+3000 to a space), curly quotes
// straightened, line breaks to \n, ANSI terminal escapes and invisible control characters
// removed, NFC.
//
// Where this differs from ftfy: ftfy's mojibake repair is guided by a "badness" heuristic and
// knows more encodings (Windows-1250/1251/1253/1254/1257, ISO-8859-2, MacRoman, CP437), CESU-8,
// lost 0xA0 bytes and partly broken lines. Here the one rule above applies whenever the bytes
// decode as UTF-8, whether or not ftfy's heuristic would flag the text. Measured on the
// reference strings (tests/data/tokenizer): identical to open_clip on all 10,159 strings that
// are neither made as mojibake nor repaired by ftfy, and on 186 of the 194 others. Of those 8:
// 4 are mojibake ftfy leaves alone and this rule repairs ("âš¡" -> "⚡", "Å\u00a0iauliai"),
// 3 are ftfy false positives on correct text (such as "Maß" + "Æsir" joined without a space,
// which ftfy turns into "Ma߯sir"), and 1 is a line where only part is mojibake
// ("¯\\_(ã\x83\x84)_/¯"), which ftfy repairs piece by piece. Lone
// surrogates cannot occur: text reaches this code as valid Unicode scalar values.
#pragma once

#include <string>

namespace vitrt::text {

std::u32string ftfy_fix_text(const std::u32string& text);

}  // namespace vitrt::text
