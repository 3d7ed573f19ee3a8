#!/usr/bin/env python3
"""Makes tests/data/tokenizer/clip_reference.jsonl.gz: strings and open_clip's token ids.

The C++ CLIP tokenizer (src/text/clip_tokenizer.h) must give the ids open_clip's
SimpleTokenizer gives. This script builds a fixed, varied set of strings (seeded: the same
file every run) and records, for each, what open_clip.tokenize returns:

    python3 python/make_tokenizer_reference.py [--out tests/data/tokenizer/clip_reference.jsonl.gz]

Needs open_clip (open-clip-torch), ftfy and regex. Each line of the output is a JSON object:
  "text"  the input string
  "kind"  which generator made it (ascii, punctuation, numbers, cjk, emoji, accents, html, ...)
  "n"     the context length used (77 unless the line exercises truncation elsewhere)
  "ids"   open_clip.tokenize(text, n)[0] with the trailing zero padding removed
  "mojibake"  true when ftfy's mojibake repair (fix_encoding) changes the text; the C++
              tokenizer implements only the commonest case of that repair
              (src/text/fix_text.h), so only these lines may differ. The "mojibake" kind holds
              deliberately broken text: hand-written cases, and every phrase and emoji below
              encoded as UTF-8 and decoded as Windows-1252 and as Latin-1.
"""
import argparse
import gzip
import io
import json
import random
import unicodedata

import ftfy
import open_clip

SEED = 20261201

WORDS = """a an the photo picture image of on in with and or but cat dog bird horse car truck bus
plane boat train bicycle person man woman child baby girl boy table chair sofa bed tree flower
grass sky cloud sun moon river lake ocean beach mountain forest city street road bridge house
building tower church castle kitchen food pizza burger sandwich apple banana orange cake coffee
tea wine beer glass cup bottle plate knife fork spoon phone laptop computer keyboard mouse screen
book clock vase scissors teddy bear umbrella bag suitcase frisbee skis snowboard ball kite bat
glove skateboard surfboard racket red green blue yellow black white brown purple pink gray
small large big tiny old new young beautiful ugly happy sad running jumping sitting standing
flying swimming eating drinking sleeping playing reading writing walking driving riding close-up
blurry bright dark cropped low-resolution rendering sculpture painting drawing sketch cartoon
origami toy plastic tattoo embroidered graffiti pixelated jpeg corrupted good bad weird clean
dirty cool nice""".split()

TEMPLATES = [
    "a photo of a {}.", "a bad photo of a {}.", "a photo of many {}.", "a sculpture of a {}.",
    "a photo of the hard to see {}.", "a low resolution photo of the {}.", "a rendering of a {}.",
    "graffiti of a {}.", "a cropped photo of the {}.", "a tattoo of a {}.",
    "the embroidered {}.", "a bright photo of a {}.", "a photo of a clean {}.",
    "a photo of a dirty {}.", "a dark photo of the {}.", "a drawing of a {}.",
    "a photo of my {}.", "the plastic {}.", "a photo of the cool {}.",
    "a close-up photo of a {}.", "a black and white photo of the {}.", "a painting of the {}.",
    "a pixelated photo of the {}.", "a jpeg corrupted photo of a {}.", "a blurry photo of a {}.",
    "itap of a {}.", "a origami {}.", "a photo of the large {}.", "art of the {}.",
    "a sketch of the {}.", "a doodle of a {}.", "a toy {}.", "a cartoon {}.",
    "This is a photo of {}", "{} in the wild", "there is a {} here!", "is this a {}?",
]

CLASSNAMES = [
    "tench", "goldfish", "great white shark", "tiger shark", "hammerhead shark", "electric ray",
    "rooster", "hen", "ostrich", "brambling", "goldfinch", "house finch", "junco", "indigo bunting",
    "American robin", "bulbul", "jay", "magpie", "chickadee", "American dipper", "kite (bird of prey)",
    "bald eagle", "vulture", "great grey owl", "fire salamander", "smooth newt", "newt",
    "spotted salamander", "axolotl", "American bullfrog", "tree frog", "tailed frog",
    "loggerhead sea turtle", "leatherback sea turtle", "mud turtle", "terrapin", "box turtle",
    "banded gecko", "green iguana", "Carolina anole", "desert grassland whiptail lizard",
    "agama", "frilled-necked lizard", "alligator lizard", "Gila monster", "European green lizard",
    "chameleon", "Komodo dragon", "Nile crocodile", "American alligator", "triceratops",
    "yellow lady's slipper", "jack-o'-lantern", "St. Bernard", "Granny Smith", "potter's wheel",
    "carousel", "T-shirt", "CD player", "Rock'n'roll", "Yorkshire Terrier", "pot pie",
]

# Everyday sentences in many scripts and languages (accents, cases, CJK, right-to-left).
PHRASES = [
    "Café au lait, s'il vous plaît.", "Où est la bibliothèque ? À gauche, près de l'église.",
    "L'été dernier, nous sommes allés à Genève.", "Ça coûte 12,50 € — c'est cher !",
    "Die Straße ist naß, aber schön.", "Grüße aus München! Äpfel, Öl und Übermut.",
    "STRASSE und Maß", "ẞ ist der große Buchstabe von ß.", "El niño comió jalapeños mañana.",
    "¿Dónde está el baño? ¡Aquí!", "São Paulo é uma cidade incrível, não é?",
    "Ação, coração, pão e limão.", "Perché non vieni più spesso?", "Żółć gęślą jaźń.",
    "Příliš žluťoučký kůň úpěl ďábelské ódy.", "Árvíztűrő tükörfúrógép",
    "İstanbul'da ılık bir gün; DİYARBAKIR ve ISPARTA.", "Tiếng Việt có dấu: Hà Nội, Phở bò.",
    "Ελληνικά: ΟΔΥΣΣΕΥΣ, Σίσυφος, ΣΟΦΟΣ.", "Καλημέρα κόσμε", "ΤΕΛΟΣ.", "ὈΔΥΣΣΕΎΣ ᾼ ᾳ",
    "Привет, мир! Ёлка и ёж.", "Україна: Київ, Львів, Їжак.", "Съешь же ещё этих мягких булок.",
    "שלום עולם", "مرحبا بالعالم", "السلام عليكم ورحمة الله", "नमस्ते दुनिया", "हिन्दी में लिखा",
    "สวัสดีครับ", "ภาษาไทยง่ายนิดเดียว", "你好，世界！", "我爱北京天安门。", "一只猫坐在沙发上。",
    "這是一張照片", "こんにちは、世界。", "猫がソファーの上で寝ています。", "カタカナとひらがな",
    "東京タワーの写真", "안녕하세요 세계", "고양이가 소파 위에 있습니다.", "한국어 텍스트",
    "Æsir og Ærø, Œuvre, œil", "Smørrebrød på Østerbro", "Åland och Göteborg",
    "Íslenska: Þórður og Ðaði", "Crème brûlée à la française", "naïve coöperation façade",
    "résumé vs resume", "Ångström", "Zürich", "Kraków", "Dvořák", "Łódź", "Šiauliai",
    "ＬＯＵＤ　ＮＯＩＳＥＳ", "ｶﾀｶﾅ ﾃﾞｽ", "Ｈｅｌｌｏ，ｗｏｒｌｄ！", "ﬁnancial ﬂows oﬀer",
    "ĳs en Ĳssel", "ǅemal ǈubljana ǋegoš", "“Curly quotes” and ‘single ones’",
    "„Anführungszeichen“ «guillemets» ‹einfach›", "It’s John’s book", "ʼokina",
]

EMOJI = [
    "😀", "😂", "🥲", "❤️", "♥", "👍", "👍🏽", "👨‍👩‍👧‍👦", "🏳️‍🌈", "🇫🇷", "🇯🇵", "🇺🇸", "1️⃣", "#️⃣",
    "🏴󠁧󠁢󠁷󠁬󠁳󠁿", "🐱", "🐶", "🚀", "✨", "☕", "™", "©", "®", "✔", "★", "☆", "⚡", "🧑‍💻",
    "👩🏻‍🦰", "🫠", "🔥", "💯", "🎉", "🙏", "😍", "🤔", "👀", "🌍", "🍕", "⚽", "🎸", "📷", "🖼️",
]

HTML = [
    "&amp;", "&lt;b&gt;", "&quot;hi&quot;", "&#39;", "&#x27;", "&nbsp;", "&eacute;", "&EACUTE;",
    "&Eacute;", "&hellip;", "&mdash;", "&copy;", "&amp;amp;", "&amp;lt;", "&amp;amp;amp;lt;",
    "&ampfoo", "&notit;", "&notin;", "&#128512;", "&#x1F600;", "&#0;", "&#128;", "&#x80;",
    "&#150;", "&#13;", "&#xD800;", "&#1114112;", "&#99999999999999999999;", "&#65", "&#x41",
    "&bogus;", "&SZLIG;", "&szlig;", "&frac12;", "&#x;", "&#;", "& ", "AT&T", "R&D",
    "fish & chips", "&lt;3", "&#x2028;", "&Tab;", "&NewLine;", "&nbsp;&nbsp;", "&zwj;", "&shy;",
    "&NTILDE;", "&ntilde;", "&Ntilde;", "&nTILDE;", "&AElig;", "&aelig;", "&AELIG;", "&pound;",
    "&euro;", "&trade;", "&rsquo;", "&ldquo;", "&rdquo;", "&lsquo;", "&#8217;", "&#x2019;",
    "&apos;", "&gt;", "&GT;", "&Gt;", "&LT", "&lt", "&gt", "&ampamp;", "&amp;#39;", "&amp;quot;",
    "&#X41;", "&#0065;", "&#x0000041;", "&#1;", "&#11;", "&#127;", "&#65534;", "&#xFDD0;",
    "&#159;", "&#129;", "&yen", "&yenx", "&copy2024", "&not", "&notanentity", "&micro;",
]

HTML_DOCS = [
    "<b>bold</b> &amp; <i>italic</i>", "x < y &amp; z", "a <br/> b", "<p>caf&eacute;</p>",
    "1 &lt; 2 but 3 > 2", "line one &amp;\n<line two> &amp;", "&amp;\n&amp;\n<x>\n&amp;",
    "<a href=\"https://example.com/?q=1&amp;r=2\">link</a>", "&lt;not a tag&gt; <", "<<<>>>",
]

PUNCT = list("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~") + [
    "...", "…", "—", "–", "‐", "•", "·", "«", "»", "¡", "¿", "§", "¶", "†", "‡", "‰", "′", "″",
    "°", "±", "×", "÷", "∞", "≈", "≠", "≤", "≥", "√", "∑", "∫", "→", "←", "↑", "↓", "⇒", "♪",
    "♫", "■", "□", "▲", "●", "○", "◆", "※", "〜", "、", "。", "「", "」", "『", "』", "【", "】",
    "（", "）", "！", "？", "：", "；", "｡", "｢", "｣", "￥", "＄", "￡",
]

CONTRACTIONS = [
    "don't", "DON'T", "I'm", "I'M", "we'll", "WE'LL", "it's", "IT'S", "they're", "you've", "I'd",
    "rock'n'roll", "'''", "''s", "O'Neil", "l'été", "it’s", "'ſ", "'ſomething", "'S", "'T", "'Re",
    "'LL", "'D", "'M", "'VE", "'x", "!'s", "'s'", "y'all", "ma'am", "'tis", "'till", "'d've",
    "<start_of_text>", "<end_of_text>", "<START_OF_TEXT>", "<End_Of_Text>", "<ſtart_of_text>",
    "<start_of_text><end_of_text>", "<<start_of_text>>", "x<start_of_text>y", "<start_of_text",
    "start_of_text", "<|endoftext|>", "<end_of_text >",
]

NUMBERS = [
    "123456", "3.14159", "1,000,000", "-42", "1e-5", "2024-01-15", "12:30pm", "$9.99", "€5",
    "50%", "①②③", "½ ¼ ¾", "x² + y³", "Ⅻ", "ⅻ", "٣٤٥", "१२३", "１２３", "〇一二三", "0x1F",
    "10^6", "1st 2nd 3rd 4th", "007", "3/4", "+1 (555) 123-4567", "192.168.0.1", "v2.0.1",
    "CO₂", "H₂O", "𝟙𝟚𝟛", "๑๒๓", "፩፪", "ⅷ", "↉", "⁰¹²³⁴⁵⁶⁷⁸⁹", "⑩", "㉑", "🔟",
]

SPACES = [" ", "  ", "\t", "\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\u2029", "\u200b",
          "\u2009", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\u1680", "\u202f", "\u205f",
          " \n\t ", "\u2003"]

CONTROLS = ["\x00", "\x07", "\x08", "\x7f", "\ufeff", "\u206a", "\ufffc", "\u200d", "\u200c",
            "\u200e", "\u202e", "\x1b[31m", "\x1b[0m", "\x1b[1;32;40m", "\x1b]0;title\x07",
            "\x1b[", "\x1b[12", "\ufff9", "\U000E0041", "\u0345", "x\u0345", "ι\u0345", "\ufe0f"]

MOJIBAKE = [
    "CafÃ©", "donâ€™t", "â€œquotedâ€\x9d", "Ã¼ber", "æ—¥æœ¬èªž", "ðŸ˜€", "voilÃ\xa0 le travail",
    "sÃ³", "Ã©tÃ©", "lÃ¶sung", "text\x92s", "\x85", "Ã\u0083Â©", "ÐŸÑ€Ð¸Ð²ÐµÑ‚", "Ã¢â‚¬â„¢",
    "Ãºnico", "naÃ¯ve", "Ã‰cole", "â€”", "â€¦ and more", "Â£100", "Â©2024", "Ã±", "ã\x83\x84",
    "&macr;\\_(ã\x83\x84)_/&macr;", "âœ” No problems", "Ã\xa0 bientÃ´t", "ÃƒÂ©",
    "The Mona Lisa doesnÃ¢â‚¬â„¢t have eyebrows.", "\x80\x81\x8d", "price: \x80 5",
]

# Blocks of long-assigned characters for random "character soup" strings.
BLOCKS = [
    (0x00C0, 0x00FF), (0x0100, 0x017F), (0x0180, 0x024F), (0x0370, 0x03FF), (0x0400, 0x04FF),
    (0x0590, 0x05FF), (0x0600, 0x06FF), (0x0900, 0x097F), (0x0E00, 0x0E7F), (0x1E00, 0x1EFF),
    (0x2000, 0x206F), (0x2070, 0x209F), (0x20A0, 0x20BF), (0x2100, 0x214F), (0x2150, 0x218F),
    (0x2190, 0x21FF), (0x2200, 0x22FF), (0x2500, 0x257F), (0x2600, 0x26FF), (0x2700, 0x27BF),
    (0x3000, 0x303F), (0x3040, 0x309F), (0x30A0, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3),
    (0xFF00, 0xFFEF), (0x1F300, 0x1F5FF), (0x1F600, 0x1F64F), (0x1F680, 0x1F6FF),
    (0x1F900, 0x1F9FF), (0x0020, 0x007E), (0x0020, 0x007E), (0x0020, 0x007E),
]


def random_soup(rng: random.Random, length: int) -> str:
    chars = []
    while len(chars) < length:
        lo, hi = rng.choice(BLOCKS)
        c = chr(rng.randint(lo, hi))
        if unicodedata.category(c) not in ("Cn", "Cs", "Co"):
            chars.append(c)
    return "".join(chars)


def case_variant(rng: random.Random, text: str) -> str:
    r = rng.random()
    if r < 0.15:
        return text.upper()
    if r < 0.25:
        return text.title()
    if r < 0.30:
        return unicodedata.normalize("NFD", text)
    if r < 0.33:
        return unicodedata.normalize("NFKD", text)
    return text


def sentence(rng: random.Random, n_words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n_words))


def make_strings(rng: random.Random):
    """Yields (kind, text, context_length)."""
    yield "empty", "", 77
    for s in SPACES:
        yield "whitespace", s, 77
    yield "whitespace", "   \t\n  ", 77
    for pool, kind in [(PHRASES, "accents"), (EMOJI, "emoji"), (HTML, "html"),
                       (HTML_DOCS, "html"), (PUNCT, "punctuation"), (CONTRACTIONS, "contractions"),
                       (NUMBERS, "numbers"), (CONTROLS, "controls"), (MOJIBAKE, "mojibake")]:
        for item in pool:
            yield kind, item, 77
    for item in PHRASES + EMOJI:
        for encoding in ("cp1252", "latin-1"):
            try:
                yield "mojibake", item.encode("utf-8").decode(encoding), 77
            except UnicodeDecodeError:
                pass  # a byte Windows-1252 leaves undefined
    for _ in range(1700):
        yield "ascii", case_variant(rng, rng.choice(TEMPLATES).format(
            rng.choice(CLASSNAMES + WORDS))), 77
    for _ in range(800):
        text = sentence(rng, rng.randint(1, 25))
        if rng.random() < 0.5:
            text = text.capitalize() + rng.choice([".", "!", "?", "", "...", ";", " :)"])
        yield "ascii", case_variant(rng, text), 77
    for _ in range(900):
        pieces = [rng.choice(PUNCT) * rng.randint(1, 3) if rng.random() < 0.6 else rng.choice(WORDS)
                  for _ in range(rng.randint(1, 12))]
        yield "punctuation", rng.choice(["", " "]).join(pieces), 77
    for _ in range(600):
        pieces = [rng.choice(NUMBERS + [str(rng.randint(0, 10 ** rng.randint(1, 12))),
                                        f"{rng.uniform(-1e4, 1e4):.{rng.randint(0, 6)}f}"])
                  for _ in range(rng.randint(1, 6))]
        yield "numbers", rng.choice([" ", "", ", ", "-", "/"]).join(pieces), 77
    for _ in range(1500):
        pieces = [case_variant(rng, rng.choice(PHRASES)) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            pieces.append(rng.choice(EMOJI))
        yield "accents", rng.choice([" ", "\n", " — ", ""]).join(pieces), 77
    cjk = [p for p in PHRASES if any(ord(c) > 0x2E80 for c in p)]
    for _ in range(700):
        pieces = [rng.choice(cjk + [random_soup(rng, rng.randint(1, 8))])
                  for _ in range(rng.randint(1, 4))]
        yield "cjk", rng.choice(["", " ", "、"]).join(pieces), 77
    for _ in range(800):
        pieces = [rng.choice(EMOJI) * rng.randint(1, 3) if rng.random() < 0.5 else
                  rng.choice(WORDS) for _ in range(rng.randint(1, 10))]
        yield "emoji", rng.choice(["", " "]).join(pieces), 77
    for _ in range(900):
        pieces = [rng.choice(HTML) if rng.random() < 0.5 else rng.choice(WORDS + PHRASES)
                  for _ in range(rng.randint(1, 6))]
        if rng.random() < 0.15:
            pieces.insert(rng.randint(0, len(pieces)), rng.choice(HTML_DOCS))
        yield "html", rng.choice([" ", "", "\n"]).join(pieces), 77
    for _ in range(500):
        pieces = [rng.choice(CONTRACTIONS) if rng.random() < 0.5 else rng.choice(WORDS)
                  for _ in range(rng.randint(1, 8))]
        yield "contractions", case_variant(rng, rng.choice([" ", ""]).join(pieces)), 77
    for _ in range(500):
        pieces = [rng.choice(SPACES + CONTROLS) if rng.random() < 0.4 else rng.choice(WORDS + PHRASES)
                  for _ in range(rng.randint(1, 8))]
        yield "controls", "".join(pieces), 77
    for _ in range(800):
        yield "soup", random_soup(rng, rng.randint(1, 40)), 77
    for _ in range(300):
        # Truncation at other context lengths, including the degenerate 1 and 2.
        n = rng.choice([1, 2, 3, 5, 8, 16, 32, 64, 100])
        yield "truncation", sentence(rng, rng.randint(0, 60)), n
    for _ in range(150):
        # Long inputs: many words, long single words, long runs of one script.
        r = rng.random()
        if r < 0.4:
            text = sentence(rng, rng.randint(80, 600))
        elif r < 0.55:
            text = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(80, 3000)))
        elif r < 0.7:
            text = "".join(rng.choice(cjk) for _ in range(rng.randint(10, 60)))
        elif r < 0.85:
            text = "".join(rng.choice(EMOJI) for _ in range(rng.randint(40, 300)))
        else:
            text = " ".join(rng.choice(PHRASES) for _ in range(rng.randint(10, 60)))
        yield "long", text, 77
    for _ in range(500):
        # The mixes real captions have.
        pieces = [rng.choice(TEMPLATES).format(rng.choice(CLASSNAMES)), rng.choice(PHRASES),
                  rng.choice(EMOJI), rng.choice(HTML), rng.choice(NUMBERS), rng.choice(PUNCT),
                  rng.choice(CONTRACTIONS)]
        rng.shuffle(pieces)
        yield "mixed", " ".join(pieces[: rng.randint(2, 7)]), 77


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="tests/data/tokenizer/clip_reference.jsonl.gz")
    args = parser.parse_args()
    rng = random.Random(SEED)
    seen = set()
    rows = []
    for kind, text, n in make_strings(rng):
        if (text, n) in seen:
            continue
        seen.add((text, n))
        ids = open_clip.tokenize([text], context_length=n)[0].tolist()
        while ids and ids[-1] == 0:
            ids.pop()
        mojibake = ftfy.fix_text(text) != ftfy.fix_text(text, fix_encoding=False)
        row = {"kind": kind, "n": n, "text": text, "ids": ids}
        if mojibake:
            row["mojibake"] = True
        rows.append(row)
    buffer = io.BytesIO()
    # mtime=0: the same strings give the same bytes, so the file changes only when they do.
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as gz:
        for row in rows:
            gz.write((json.dumps(row, ensure_ascii=True) + "\n").encode("ascii"))
    with open(args.out, "wb") as f:
        f.write(buffer.getvalue())
    kinds = {}
    for row in rows:
        kinds[row["kind"]] = kinds.get(row["kind"], 0) + 1
    print(f"{len(rows)} strings -> {args.out} ({len(buffer.getvalue())} bytes)")
    print("by kind:", dict(sorted(kinds.items())))
    print("mojibake repaired by ftfy:", sum(1 for r in rows if r.get("mojibake")),
          "of which kind=mojibake:", sum(1 for r in rows if r.get("mojibake") and r["kind"] == "mojibake"))


if __name__ == "__main__":
    main()
