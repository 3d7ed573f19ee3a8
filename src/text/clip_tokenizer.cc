// CLIP's byte-level BPE tokenizer (clip_tokenizer.h).
#include "text/clip_tokenizer.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <queue>

#include "text/fix_text.h"
#include "text/html_unescape.h"
#include "text/unicode_rules.h"
#include "text/utf8.h"

namespace vitrt::text {
namespace {

// The vocabulary file holds more merges than CLIP uses: its vocabulary is 49408 entries, the
// 256 byte symbols, their 256 word-end forms, these merges and the two special tokens.
constexpr int kMergeCount = 49152 - 256 - 2;
constexpr std::u32string_view kStartOfText = U"<start_of_text>";
constexpr std::u32string_view kEndOfText = U"<end_of_text>";
constexpr std::string_view kWordEnd = "</w>";

// The byte -> printable character map of GPT-2 style byte-level BPE: printable Latin-1 bytes
// stand for themselves, the others (controls, space, 0x7F..0xA0, 0xAD) for U+0100 upwards in
// byte order. Vocabulary order is: the printable bytes in byte order, then the others.
struct ByteSymbols {
  char32_t character[256];
  int32_t order[256];  // the byte's position in the vocabulary
};

ByteSymbols make_byte_symbols() {
  ByteSymbols s{};
  auto printable = [](int b) {
    return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
  };
  int position = 0;
  for (int b = 0; b < 256; ++b) {
    if (printable(b)) {
      s.character[b] = static_cast<char32_t>(b);
      s.order[b] = position++;
    }
  }
  int shifted = 0;
  for (int b = 0; b < 256; ++b) {
    if (!printable(b)) {
      s.character[b] = static_cast<char32_t>(256 + shifted++);
      s.order[b] = position++;
    }
  }
  return s;
}

Result<std::string> read_gzip_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    return not_found("CLIP vocabulary '", path, "' does not exist or is not a file");
  }
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return io_error("cannot open CLIP vocabulary '", path, "'");
  std::unique_ptr<gzFile_s, int (*)(gzFile)> closer(file, gzclose);
  std::string data;
  char buffer[1 << 16];
  while (true) {
    const int n = gzread(file, buffer, sizeof(buffer));
    if (n < 0) {
      int code = 0;
      return io_error("CLIP vocabulary '", path, "': ", gzerror(file, &code));
    }
    if (n == 0) break;
    data.append(buffer, static_cast<size_t>(n));
  }
  if (gzdirect(file)) {
    return invalid_argument("CLIP vocabulary '", path,
                            "' is not gzip-compressed (expected bpe_simple_vocab_16e6.txt.gz)");
  }
  return data;
}

// Runs of characters the pre-tokenizer treats alike.
enum class CharClass { kSpace, kLetter, kNumber, kOther, kSkipped };

CharClass classify(char32_t c) {
  if (c < 0x80) {
    if (c == ' ' || (c >= 0x09 && c <= 0x0D)) return CharClass::kSpace;
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return CharClass::kLetter;
    if (c >= '0' && c <= '9') return CharClass::kNumber;
    return CharClass::kOther;
  }
  if (is_white_space(c)) return CharClass::kSpace;
  if (is_letter(c)) return CharClass::kLetter;
  if (is_number(c)) return CharClass::kNumber;
  // open_clip's pattern is compiled case-insensitive, and the `regex` module then matches
  // COMBINING GREEK YPOGEGRAMMENI (a mark whose case variants are letters) with neither the
  // letter class nor its complement: the character is dropped. Measured over every code point.
  if (c == 0x0345) return CharClass::kSkipped;
  return CharClass::kOther;
}

// Case-insensitive match of an ASCII literal at text[pos] (the pattern's IGNORECASE flag; after
// lower-casing it matters only for U+017F LONG S, which folds to 's').
bool matches_literal(const std::u32string& text, size_t pos, std::u32string_view literal) {
  if (text.size() - pos < literal.size()) return false;
  for (size_t k = 0; k < literal.size(); ++k) {
    const char32_t c = text[pos + k];
    if (c != literal[k] && fold_case(c) != literal[k]) return false;
  }
  return true;
}

// Collapses whitespace runs to one space and trims both ends (" ".join(text.split())).
std::u32string collapse_whitespace(const std::u32string& text) {
  std::u32string out;
  out.reserve(text.size());
  bool pending_space = false;
  for (char32_t c : text) {
    if (is_python_space(c)) {
      pending_space = !out.empty();
    } else {
      if (pending_space) out.push_back(U' ');
      pending_space = false;
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

std::u32string clip_clean_text(const std::u32string& text) {
  // ftfy, then html.unescape twice; the strip that follows is subsumed by collapse_whitespace.
  std::u32string cleaned = python_html_unescape(python_html_unescape(ftfy_fix_text(text)));
  return to_lower(collapse_whitespace(cleaned));
}

Result<ClipTokenizer> ClipTokenizer::load(const std::string& vocab_path) {
  VITRT_ASSIGN_OR_RETURN(std::string data, read_gzip_file(vocab_path));
  auto malformed = [&](size_t line, const std::string& why) {
    return invalid_argument("CLIP vocabulary '", vocab_path, "' line ", line + 1, ": ", why);
  };
  // Line 0 is a version header; lines 1..kMergeCount are "first second" merges.
  std::vector<std::pair<std::string, std::string>> merges;
  merges.reserve(kMergeCount);
  size_t pos = data.find('\n');
  for (size_t line = 1; line <= kMergeCount; ++line) {
    if (pos == std::string::npos) {
      return invalid_argument("CLIP vocabulary '", vocab_path, "' has ", line - 1,
                              " merges, expected at least ", kMergeCount,
                              " (is it bpe_simple_vocab_16e6.txt.gz?)");
    }
    const size_t begin = pos + 1;
    pos = data.find('\n', begin);
    const std::string_view text(data.data() + begin,
                                (pos == std::string::npos ? data.size() : pos) - begin);
    const size_t space = text.find(' ');
    if (space == std::string_view::npos || space == 0 || space + 1 == text.size() ||
        text.find(' ', space + 1) != std::string_view::npos) {
      return malformed(line, "expected two symbols separated by one space");
    }
    merges.emplace_back(std::string(text.substr(0, space)), std::string(text.substr(space + 1)));
  }

  // Vocabulary strings -> ids; a string listed twice keeps its later id, as a Python dict does.
  const ByteSymbols bytes = make_byte_symbols();
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(2 * 256 + kMergeCount);
  for (int b = 0; b < 256; ++b) {
    std::string symbol;
    append_utf8(bytes.character[b], symbol);
    ids[symbol] = bytes.order[b];
    ids[symbol + std::string(kWordEnd)] = 256 + bytes.order[b];
  }
  for (int k = 0; k < kMergeCount; ++k) {
    ids[merges[k].first + merges[k].second] = 512 + k;
  }
  ClipTokenizer tokenizer;
  for (int b = 0; b < 256; ++b) {
    tokenizer.byte_symbol_[b] = bytes.order[b];
    tokenizer.end_byte_symbol_[b] = 256 + bytes.order[b];
  }
  tokenizer.start_token_ = 512 + kMergeCount;
  tokenizer.end_token_ = tokenizer.start_token_ + 1;
  // A merge whose parts are not vocabulary strings can never apply: its pair never forms.
  for (int k = 0; k < kMergeCount; ++k) {
    auto first = ids.find(merges[k].first);
    auto second = ids.find(merges[k].second);
    if (first == ids.end() || second == ids.end()) continue;
    // BPE training learns merges in order, so a merge's parts exist before it; the merge order
    // in append_word_ids relies on that.
    if (first->second >= 512 + k || second->second >= 512 + k) {
      return malformed(static_cast<size_t>(k) + 1,
                       "a part of this merge is made by a later merge (merges out of order)");
    }
    const uint64_t key =
        (static_cast<uint64_t>(first->second) << 32) | static_cast<uint32_t>(second->second);
    tokenizer.merges_[key] = Merge{k, ids.at(merges[k].first + merges[k].second)};
  }
  return tokenizer;
}

void ClipTokenizer::append_word_ids(const std::string& pre_token, std::vector<int32_t>& ids) const {
  // open_clip's bpe() repeatedly merges every occurrence (left to right) of the adjacent pair
  // with the lowest rank. Because every merge's parts come from lower-ranked merges (checked in
  // load()), a merge only creates pairs of higher rank, so that order is simply: pairs by rank,
  // then by position. A heap gives it in O(n log n), where rescanning the word after each
  // merge would take quadratic time on a long word (a 1 MB word would not finish).
  struct Node {
    int32_t symbol;  // -1 once merged into its left neighbour
    int32_t prev;
    int32_t next;
  };
  struct Candidate {
    int32_t rank;
    int32_t left;  // node index; its order is the position order
    int32_t left_symbol;
    int32_t right_symbol;
    bool operator>(const Candidate& o) const {
      return rank != o.rank ? rank > o.rank : left > o.left;
    }
  };
  const auto n = static_cast<int32_t>(pre_token.size());
  std::vector<Node> nodes(n);
  for (int32_t i = 0; i < n; ++i) {
    const auto b = static_cast<unsigned char>(pre_token[i]);
    nodes[i] =
        Node{i + 1 == n ? end_byte_symbol_[b] : byte_symbol_[b], i - 1, i + 1 < n ? i + 1 : -1};
  }
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> heap;
  auto push_pair = [&](int32_t left) {
    if (left < 0) return;  // the first symbol has no left neighbour (prev is -1)
    const int32_t right = nodes[left].next;
    if (right < 0) return;
    const uint64_t key = (static_cast<uint64_t>(nodes[left].symbol) << 32) |
                         static_cast<uint32_t>(nodes[right].symbol);
    if (auto it = merges_.find(key); it != merges_.end()) {
      heap.push(Candidate{it->second.rank, left, nodes[left].symbol, nodes[right].symbol});
    }
  };
  for (int32_t i = 0; i + 1 < n; ++i) push_pair(i);
  while (!heap.empty()) {
    const Candidate c = heap.top();
    heap.pop();
    Node& left = nodes[c.left];
    // Stale when either side has merged since: symbols only ever change to new merged ones.
    if (left.symbol != c.left_symbol || left.next < 0 ||
        nodes[left.next].symbol != c.right_symbol) {
      continue;
    }
    const uint64_t key =
        (static_cast<uint64_t>(c.left_symbol) << 32) | static_cast<uint32_t>(c.right_symbol);
    Node& right = nodes[left.next];
    left.symbol = merges_.at(key).merged;
    right.symbol = -1;
    left.next = right.next;
    if (left.next >= 0) nodes[left.next].prev = c.left;
    push_pair(left.prev);
    push_pair(c.left);
  }
  for (int32_t i = n > 0 ? 0 : -1; i >= 0; i = nodes[i].next) ids.push_back(nodes[i].symbol);
}

Result<std::vector<int32_t>> ClipTokenizer::encode(std::string_view utf8_text,
                                                   size_t max_tokens) const {
  VITRT_ASSIGN_OR_RETURN(std::u32string decoded, decode_utf8(utf8_text));
  const std::u32string text = clip_clean_text(decoded);
  std::vector<int32_t> ids;
  static constexpr std::u32string_view kContractions[] = {U"'s", U"'t",  U"'re", U"'ve",
                                                          U"'m", U"'ll", U"'d"};
  size_t pos = 0;
  while (pos < text.size() && ids.size() < max_tokens) {
    const CharClass cls = classify(text[pos]);
    if (cls == CharClass::kSpace || cls == CharClass::kSkipped) {
      ++pos;
      continue;
    }
    // The pattern's alternatives in order; the first that matches here wins.
    size_t end = pos;
    if (text[pos] == U'<' &&
        (matches_literal(text, pos, kStartOfText) || matches_literal(text, pos, kEndOfText))) {
      const std::u32string_view special =
          matches_literal(text, pos, kStartOfText) ? kStartOfText : kEndOfText;
      end = pos + special.size();
      // Only the exact spelling is the special token; a case variant (long s) is ordinary text.
      if (text.compare(pos, special.size(), special) == 0) {
        ids.push_back(special == kStartOfText ? start_token_ : end_token_);
        pos = end;
        continue;
      }
    } else if (text[pos] == U'\'') {
      for (std::u32string_view contraction : kContractions) {
        if (matches_literal(text, pos, contraction)) {
          end = pos + contraction.size();
          break;
        }
      }
    }
    if (end == pos) {
      end = pos + 1;
      if (cls != CharClass::kNumber) {
        while (end < text.size() && classify(text[end]) == cls) ++end;
      }
    }
    append_word_ids(encode_utf8(std::u32string_view(text).substr(pos, end - pos)), ids);
    pos = end;
  }
  if (ids.size() > max_tokens) ids.resize(max_tokens);
  return ids;
}

Result<std::vector<int32_t>> ClipTokenizer::tokenize(std::string_view utf8_text,
                                                     int context_length) const {
  if (context_length < 1) {
    return invalid_argument("context length must be at least 1, got ", context_length);
  }
  const auto length = static_cast<size_t>(context_length);
  // Ids beyond the context would be cut; encode only what can be kept.
  VITRT_ASSIGN_OR_RETURN(std::vector<int32_t> ids, encode(utf8_text, length));
  std::vector<int32_t> row(length, 0);
  row[0] = start_token_;
  const size_t kept = std::min(ids.size(), length - 1);
  std::copy(ids.begin(), ids.begin() + static_cast<ptrdiff_t>(kept), row.begin() + 1);
  // The end token goes after the ids, or over the last one when they fill the context.
  row[std::min(kept + 1, length - 1)] = end_token_;
  return row;
}

Result<Tensor> ClipTokenizer::tokenize_batch(const std::vector<std::string>& texts,
                                             int context_length) const {
  if (context_length < 1) {
    return invalid_argument("context length must be at least 1, got ", context_length);
  }
  Tensor out = Tensor::zeros(DType::kInt32, {static_cast<int64_t>(texts.size()), context_length});
  int32_t* data = out.data<int32_t>();
  for (size_t i = 0; i < texts.size(); ++i) {
    Result<std::vector<int32_t>> row = tokenize(texts[i], context_length);
    if (!row.ok()) return row.status().with_context(str_cat("text ", i));
    std::copy(row->begin(), row->end(), data + i * static_cast<size_t>(context_length));
  }
  return out;
}

Result<std::string> find_clip_vocab() {
  std::vector<std::string> tried;
  if (const char* env = std::getenv("VITRT_CLIP_VOCAB"); env != nullptr && *env != '\0') {
    // An explicit setting wins even when wrong: silently using another file would hide it.
    return std::string(env);
  }
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  const std::filesystem::path relative =
      std::filesystem::path("third_party_data") / "clip" / kClipVocabFileName;
  std::vector<std::filesystem::path> candidates;
  if (!ec) candidates.push_back(exe.parent_path().parent_path() / relative);
  candidates.push_back(std::filesystem::current_path(ec) / relative);
  for (const auto& candidate : candidates) {
    if (std::filesystem::is_regular_file(candidate, ec)) return candidate.string();
    tried.push_back(candidate.string());
  }
  std::string list;
  for (const std::string& t : tried) list += "\n  " + t;
  return not_found("CLIP vocabulary ", kClipVocabFileName, " not found; looked in:", list,
                   "\nRun scripts/setup.sh to fetch it, or take open_clip/", kClipVocabFileName,
                   " out of the open-clip-torch wheel (pip download open-clip-torch --no-deps)"
                   " and pass its path (--vocab, or the VITRT_CLIP_VOCAB variable)");
}

}  // namespace vitrt::text
