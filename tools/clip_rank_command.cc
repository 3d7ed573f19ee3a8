// `vitrt clip rank --query TEXT IMAGE|FOLDER... --model DIR`: a small image search.
#include <algorithm>
#include <cstdio>
#include <numeric>

#include "clip_cli.h"
#include "commands.h"
#include "vision/data_folder.h"

namespace vitrt::cli {
namespace {

constexpr const char* kCommand = "clip rank";

constexpr const char* kHelp =
    "usage: vitrt clip rank --query TEXT IMAGE|FOLDER... --model DIR [--top K]\n"
    "                       [-o OUT.json|OUT.npy]\n"
    "\n"
    "Ranks images by the cosine similarity of their CLIP embedding with the query's: a small\n"
    "image search (every image is embedded on each call; nothing is indexed).\n"
    "\n"
    "output: JSON {\"query\": ..., \"results\": [{\"rank\": 1, \"image\": ..., \"cosine\": c,\n"
    "\"score\": logit_scale * c}, ...]} best first, or float32 [N_images] .npy of the cosines\n"
    "in argument order (all images, --top ignored)\n"
    "\n"
    "options:\n"
    "  --query TEXT       what to look for (required)\n"
    "  --top K            list the K best images (default 10)\n";

}  // namespace

int clip_rank_command(const std::vector<std::string>& words) {
  std::vector<FlagSpec> flags = clip_model_flags();
  flags.push_back({"--query", "-q", true, false});
  flags.push_back({"--top", "", true, false});
  Result<CliArgs> parsed = CliArgs::parse(words, flags);
  if (!parsed.ok()) return usage_error(kCommand, parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::printf("%s%s\n%s", kHelp, kClipModelFlagsHelp,
                "exit status: 0 success, 1 bad input or failure (the message names the file), "
                "2 usage error\n");
    return kExitOk;
  }
  if (!args.has("--query")) return usage_error(kCommand, "missing --query TEXT");
  if (args.positionals().empty()) {
    return usage_error(kCommand, "expected at least one IMAGE or FOLDER");
  }
  Result<int64_t> top = args.get_int("--top", 10, 1, int64_t{1} << 40);
  if (!top.ok()) return usage_error(kCommand, top.status().message());
  Result<ClipOptions> options = clip_options(args, "embeddings");
  if (!options.ok()) return usage_error(kCommand, options.status().message());

  Result<std::vector<std::string>> files = vision::expand_image_paths(args.positionals());
  if (!files.ok()) return failure(kCommand, files.status());
  Result<std::shared_ptr<ClipModel>> model = ClipModel::load(args.get("--model"), *options);
  if (!model.ok()) return failure(kCommand, model.status());
  const std::string query = args.get("--query");
  Result<Tensor> query_embed = (*model)->embed_texts({query});
  if (!query_embed.ok()) return failure(kCommand, query_embed.status());
  Result<Tensor> image_embeds = (*model)->embed_image_files(*files);
  if (!image_embeds.ok()) return failure(kCommand, image_embeds.status());
  Result<Tensor> cosines = clip_similarity(*image_embeds, *query_embed, 1.0f);
  if (!cosines.ok()) return failure(kCommand, cosines.status());
  const float* cos = cosines->data<float>();

  std::vector<size_t> order(files->size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return cos[a] > cos[b]; });
  order.resize(std::min<size_t>(order.size(), static_cast<size_t>(*top)));
  nlohmann::json json = {{"query", query}, {"results", nlohmann::json::array()}};
  for (size_t r = 0; r < order.size(); ++r) {
    const float c = cos[order[r]];
    json["results"].push_back({{"rank", r + 1},
                               {"image", (*files)[order[r]]},
                               {"cosine", json_float(c)},
                               {"score", json_float((*model)->logit_scale() * c)}});
  }
  Result<Tensor> flat = cosines->reshaped({cosines->dim(0)});
  if (!flat.ok()) return failure(kCommand, flat.status());
  Status written = write_clip_output(args.get("--output"), json, *flat, /*indent=*/true);
  if (!written.ok()) return failure(kCommand, written);
  return kExitOk;
}

}  // namespace vitrt::cli
