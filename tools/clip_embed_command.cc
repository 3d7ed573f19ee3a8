// `vitrt clip embed --images IMAGE|DIR... | --texts FILE --model DIR`: L2-normalised CLIP
// embeddings as JSON or .npy.
#include <cstdio>

#include "clip_cli.h"
#include "commands.h"
#include "text/text_list_file.h"
#include "vision/data_folder.h"

namespace vitrt::cli {
namespace {

constexpr const char* kCommand = "clip embed";

constexpr const char* kHelp =
    "usage: vitrt clip embed --model DIR --images IMAGE|FOLDER... [-o OUT.json|OUT.npy]\n"
    "       vitrt clip embed --model DIR --texts FILE [-o OUT.json|OUT.npy]\n"
    "\n"
    "Embeds images (decoded, turned upright and preprocessed as HF's CLIPImageProcessor does)\n"
    "or texts (tokenized as open_clip does) with a CLIP model folder built by 'vitrt build DIR'.\n"
    "Embeddings are L2-normalised, so a dot product is the cosine similarity. A folder stands\n"
    "for its .jpg, .jpeg, .png, .webp, .gif, .bmp, .tif and .tiff files, sorted by name.\n"
    "\n"
    "output: JSON {\"embed_dim\": D, \"items\": [{\"image\"|\"text\": ..., \"embedding\": [...]},\n"
    "...]} in input order, or float32 [N, D] .npy\n"
    "\n"
    "options:\n"
    "  --images           the arguments are images or folders of images\n"
    "  --texts FILE       a .json array of strings, or one text per line\n";

}  // namespace

int clip_embed_command(const std::vector<std::string>& words) {
  std::vector<FlagSpec> flags = clip_model_flags();
  flags.push_back({"--images", "", false, false});
  flags.push_back({"--texts", "", true, false});
  Result<CliArgs> parsed = CliArgs::parse(words, flags);
  if (!parsed.ok()) return usage_error(kCommand, parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::printf("%s%s\n%s", kHelp, kClipModelFlagsHelp,
                "exit status: 0 success, 1 bad input or failure (the message names the file or "
                "text), 2 usage error\n");
    return kExitOk;
  }
  const bool images = args.has("--images"), texts = args.has("--texts");
  if (images == texts) return usage_error(kCommand, "give either --images or --texts FILE");
  if (texts && !args.positionals().empty()) {
    return usage_error(kCommand, "unexpected argument '" + args.positionals()[0] +
                                     "' (texts are read from --texts FILE)");
  }
  if (images && args.positionals().empty()) {
    return usage_error(kCommand, "--images needs at least one IMAGE or FOLDER");
  }
  Result<ClipOptions> options = clip_options(args, images ? "images" : "texts");
  if (!options.ok()) return usage_error(kCommand, options.status().message());

  std::vector<std::string> inputs;
  if (images) {
    Result<std::vector<std::string>> files = vision::expand_image_paths(args.positionals());
    if (!files.ok()) return failure(kCommand, files.status());
    inputs = std::move(*files);
  } else {
    Result<std::vector<std::string>> list = text::read_text_list_file(args.get("--texts"));
    if (!list.ok()) return failure(kCommand, list.status());
    inputs = std::move(*list);
  }
  Result<std::shared_ptr<ClipModel>> model = ClipModel::load(args.get("--model"), *options);
  if (!model.ok()) return failure(kCommand, model.status());
  Result<Tensor> embeds =
      images ? (*model)->embed_image_files(inputs) : (*model)->embed_texts(inputs);
  if (!embeds.ok()) return failure(kCommand, embeds.status());

  nlohmann::json json;
  const std::string output = args.get("--output");
  const int64_t dim = embeds->dim(1);
  json["embed_dim"] = dim;
  json["items"] = nlohmann::json::array();
  for (size_t i = 0; i < inputs.size(); ++i) {
    nlohmann::json embedding = nlohmann::json::array();
    for (int64_t k = 0; k < dim; ++k) {
      embedding.push_back(json_float(embeds->data<float>()[i * dim + k]));
    }
    json["items"].push_back({{images ? "image" : "text", inputs[i]}, {"embedding", embedding}});
  }
  Status written = write_clip_output(output, json, *embeds, /*indent=*/false);
  if (!written.ok()) return failure(kCommand, written);
  return kExitOk;
}

}  // namespace vitrt::cli
