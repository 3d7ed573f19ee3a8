// `vitrt clip <subcommand>`: the CLIP front end (tokenize, preprocess, embed, classify, rank).
#include <cstdio>

#include "cli_args.h"
#include "commands.h"
#include "core/npy.h"
#include "text/clip_tokenizer.h"
#include "text/text_list_file.h"

namespace vitrt::cli {
namespace {

constexpr const char* kClipHelp =
    "usage: vitrt clip <subcommand> [options]\n"
    "\n"
    "subcommands:\n"
    "  tokenize   texts -> CLIP token ids (int32 [N, context_length] .npy), as open_clip\n"
    "  preprocess images -> pixel_values (float32 [N, 3, H, W] .npy), as HF CLIPImageProcessor\n"
    "  embed      images or texts -> L2-normalised embeddings (JSON or .npy)\n"
    "  classify   images + labels -> zero-shot label probabilities\n"
    "  rank       a text query + images -> the images ranked by similarity\n"
    "\n"
    "embed, classify and rank run a model folder from python/export_clip.py after\n"
    "'vitrt build DIR' has built its two plans.\n"
    "\n"
    "'vitrt clip <subcommand> --help' shows a subcommand's options.\n"
    "\n"
    "exit status: 0 success, 1 bad input or failure, 2 usage error\n";

constexpr const char* kTokenizeHelp =
    "usage: vitrt clip tokenize --texts FILE -o ids.npy [--context-length 77] [--vocab PATH]\n"
    "\n"
    "Tokenizes texts the way open_clip.tokenize does (CLIP's byte-level BPE: text cleaned with\n"
    "ftfy's rules, HTML references decoded, whitespace collapsed, lower-cased) and writes int32\n"
    "[N, context_length]: the start token (49406), the BPE ids, the end token (49407), zeros.\n"
    "A text too long for the context is cut and its last kept id replaced by the end token.\n"
    "\n"
    "options:\n"
    "  --texts FILE            a .json file holding an array of strings, or any other file\n"
    "                          with one text per line (UTF-8; '\\n' or '\\r\\n' line ends)\n"
    "  -o, --output FILE       where to write the .npy\n"
    "  --context-length N      tokens per row (default 77, CLIP's)\n"
    "  --vocab PATH            bpe_simple_vocab_16e6.txt.gz; default: $VITRT_CLIP_VOCAB, else\n"
    "                          third_party_data/clip/ beside the build directory or under the\n"
    "                          current directory (scripts/setup.sh puts it there)\n"
    "  --print                 also print each row's ids, up to the end token\n"
    "  -h, --help              show this help\n"
    "\n"
    "Mojibake (UTF-8 text that was decoded in another encoding): open_clip repairs it with\n"
    "ftfy; vitrt repairs the commonest kind (UTF-8 read as Windows-1252 or Latin-1), so other\n"
    "kinds may give other ids.\n"
    "\n"
    "exit status: 0 success, 1 bad input or failure (the message names the file or text),\n"
    "2 usage error\n";

// Longer contexts than any CLIP variant uses are allowed, within reason for one row's memory.
constexpr int64_t kMaxContextLength = 1 << 20;

int clip_tokenize_command(const std::vector<std::string>& words) {
  const std::string command = "clip tokenize";
  Result<CliArgs> parsed = CliArgs::parse(words, {{"--texts", "", true, false},
                                                  {"--output", "-o", true, false},
                                                  {"--context-length", "", true, false},
                                                  {"--vocab", "", true, false},
                                                  {"--print", "", false, false}});
  if (!parsed.ok()) return usage_error(command, parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::fputs(kTokenizeHelp, stdout);
    return kExitOk;
  }
  if (!args.positionals().empty()) {
    return usage_error(command, "unexpected argument '" + args.positionals()[0] +
                                    "' (texts are given with --texts FILE)");
  }
  if (!args.has("--texts")) return usage_error(command, "missing --texts FILE");
  if (!args.has("--output")) return usage_error(command, "missing -o ids.npy");
  Result<int64_t> context_length =
      args.get_int("--context-length", text::kClipContextLength, 1, kMaxContextLength);
  if (!context_length.ok()) return usage_error(command, context_length.status().message());

  std::string vocab = args.get("--vocab");
  if (vocab.empty()) {
    Result<std::string> found = text::find_clip_vocab();
    if (!found.ok()) return failure(command, found.status());
    vocab = *found;
  }
  Result<text::ClipTokenizer> tokenizer = text::ClipTokenizer::load(vocab);
  if (!tokenizer.ok()) return failure(command, tokenizer.status());

  const std::string texts_path = args.get("--texts");
  Result<std::vector<std::string>> texts = text::read_text_list_file(texts_path);
  if (!texts.ok()) return failure(command, texts.status());
  Result<Tensor> ids = tokenizer->tokenize_batch(*texts, static_cast<int>(*context_length));
  if (!ids.ok()) {
    return failure(command, ids.status().with_context(str_cat("texts file '", texts_path, "'")));
  }
  const std::string output = args.get("--output");
  Status written = write_npy_file(output, *ids);
  if (!written.ok()) return failure(command, written);
  std::printf("%zu texts -> %s %s\n", texts->size(), output.c_str(), ids->describe().c_str());
  if (args.has("--print")) {
    const int32_t* data = ids->data<int32_t>();
    for (size_t i = 0; i < texts->size(); ++i) {
      std::printf("%zu:", i);
      for (int64_t k = 0; k < *context_length; ++k) {
        const int32_t id = data[i * static_cast<size_t>(*context_length) + k];
        std::printf(" %d", id);
        if (id == tokenizer->end_token()) break;
      }
      std::printf("\n");
    }
  }
  return kExitOk;
}

}  // namespace

int clip_command(const std::vector<std::string>& words) {
  if (words.empty()) {
    std::fputs(kClipHelp, stderr);
    return kExitUsage;
  }
  const std::string& sub = words[0];
  const std::vector<std::string> rest(words.begin() + 1, words.end());
  if (sub == "--help" || sub == "-h" || sub == "help") {
    std::fputs(kClipHelp, stdout);
    return kExitOk;
  }
  if (sub == "tokenize") return clip_tokenize_command(rest);
  if (sub == "preprocess") return clip_preprocess_command(rest);
  if (sub == "embed") return clip_embed_command(rest);
  if (sub == "classify") return clip_classify_command(rest);
  if (sub == "rank") return clip_rank_command(rest);
  return usage_error("clip", "unknown subcommand '" + sub + "'");
}

}  // namespace vitrt::cli
