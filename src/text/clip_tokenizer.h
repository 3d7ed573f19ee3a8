// CLIP's text tokenizer: byte-level BPE over bpe_simple_vocab_16e6.txt.gz, giving the same ids
// as open_clip's SimpleTokenizer (open_clip.tokenize).
//
// Pipeline, as open_clip runs it: clean the text (ftfy.fix_text, HTML references decoded twice,
// whitespace runs collapsed to one space, lower-cased), split it into pre-tokens (the special
// token names, the contractions 's 't 're 've 'm 'll 'd, runs of letters, single digits, runs
// of other non-space characters), map each pre-token's UTF-8 bytes to symbols, mark the last
// symbol as word end, and apply the merges in rank order.
//
// The vocabulary is not in this repository: scripts/setup.sh takes it from the open-clip-torch
// wheel into third_party_data/clip/ (find_clip_vocab says where it is looked for).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vitrt/status.h"
#include "vitrt/tensor.h"

namespace vitrt::text {

inline constexpr int kClipContextLength = 77;
inline constexpr const char* kClipVocabFileName = "bpe_simple_vocab_16e6.txt.gz";

// The cleaned, lower-cased text the BPE sees (exposed for tests and debugging).
std::u32string clip_clean_text(const std::u32string& text);

class ClipTokenizer {
 public:
  // Reads the gzip-compressed merges file. Errors name the file and what is wrong with it.
  static Result<ClipTokenizer> load(const std::string& vocab_path);

  int32_t start_token() const { return start_token_; }
  int32_t end_token() const { return end_token_; }
  int32_t vocab_size() const { return end_token_ + 1; }

  // The BPE ids of `utf8_text`, without start and end tokens. Stops once `max_tokens` ids are
  // out (the rest would be truncated away). Errors: the text is not valid UTF-8.
  Result<std::vector<int32_t>> encode(std::string_view utf8_text,
                                      size_t max_tokens = std::numeric_limits<size_t>::max()) const;

  // open_clip.tokenize for one text: [start, ids..., end] zero-padded to `context_length`;
  // a longer sequence is cut to `context_length` and its last id replaced by the end token.
  Result<std::vector<int32_t>> tokenize(std::string_view utf8_text, int context_length) const;

  // int32 [texts.size(), context_length]. Errors name the text's index.
  Result<Tensor> tokenize_batch(const std::vector<std::string>& texts, int context_length) const;

 private:
  struct Merge {
    int32_t rank;
    int32_t merged;  // the symbol the pair becomes
  };

  void append_word_ids(const std::string& pre_token, std::vector<int32_t>& ids) const;

  int32_t byte_symbol_[256] = {};               // a byte inside a word
  int32_t end_byte_symbol_[256] = {};           // a byte that ends a word ("x</w>")
  std::unordered_map<uint64_t, Merge> merges_;  // key: (first << 32) | second
  int32_t start_token_ = 0;
  int32_t end_token_ = 0;
};

// Where the vocabulary is looked for when no path is given, first match wins: $VITRT_CLIP_VOCAB,
// then third_party_data/clip/ beside the directory holding the running executable (build/vitrt
// in a checkout), then third_party_data/clip/ under the current directory. A not-found error
// lists the places tried and how to get the file.
Result<std::string> find_clip_vocab();

}  // namespace vitrt::text
