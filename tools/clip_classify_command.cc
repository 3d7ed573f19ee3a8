// `vitrt clip classify IMAGE... --labels "a cat,a dog" --model DIR`: zero-shot classification.
#include <algorithm>
#include <cstdio>

#include "clip_cli.h"
#include "commands.h"
#include "vision/data_folder.h"

namespace vitrt::cli {
namespace {

constexpr const char* kCommand = "clip classify";

constexpr const char* kHelp =
    "usage: vitrt clip classify IMAGE|FOLDER... --labels \"cat,dog,...\" --model DIR\n"
    "                           [--template \"a photo of a {}\"] [-o OUT.json|OUT.npy]\n"
    "\n"
    "Zero-shot classification: each label is put into the template, embedded by the text\n"
    "tower, and each image gets the softmax over labels of logit_scale * cos(image, prompt),\n"
    "as CLIPModel's logits_per_image give it.\n"
    "\n"
    "output: JSON {\"labels\": [...], \"prompts\": [...], \"results\": [{\"image\": ...,\n"
    "\"label\": best, \"probability\": p, \"probabilities\": [one per label]}, ...]}, or\n"
    "float32 [N_images, N_labels] .npy\n"
    "\n"
    "options:\n"
    "  --labels LIST      comma-separated labels (required; spaces around commas are dropped)\n"
    "  --template TEXT    the prompt, '{}' standing for the label (default \"a photo of a {}\")\n";

std::string trim(const std::string& s) {
  const size_t begin = s.find_first_not_of(" \t");
  if (begin == std::string::npos) return "";
  return s.substr(begin, s.find_last_not_of(" \t") - begin + 1);
}

}  // namespace

int clip_classify_command(const std::vector<std::string>& words) {
  std::vector<FlagSpec> flags = clip_model_flags();
  flags.push_back({"--labels", "", true, false});
  flags.push_back({"--template", "", true, false});
  Result<CliArgs> parsed = CliArgs::parse(words, flags);
  if (!parsed.ok()) return usage_error(kCommand, parsed.status().message());
  const CliArgs& args = *parsed;
  if (args.help()) {
    std::printf("%s%s\n%s", kHelp, kClipModelFlagsHelp,
                "exit status: 0 success, 1 bad input or failure (the message names the file or "
                "label), 2 usage error\n");
    return kExitOk;
  }
  if (args.positionals().empty()) return usage_error(kCommand, "expected at least one IMAGE");
  if (!args.has("--labels")) return usage_error(kCommand, "missing --labels \"cat,dog,...\"");
  std::vector<std::string> labels;
  const std::string list = args.get("--labels");
  for (size_t start = 0; start <= list.size();) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string label = trim(list.substr(start, comma - start));
    if (label.empty()) {
      return usage_error(
          kCommand, "--labels has an empty label (at character " + std::to_string(start) + ")");
    }
    labels.push_back(label);
    start = comma + 1;
  }
  const std::string prompt_template = args.get("--template", "a photo of a {}");
  const size_t slot = prompt_template.find("{}");
  if (slot == std::string::npos) {
    return usage_error(
        kCommand, "--template must contain {} where the label goes, got '" + prompt_template + "'");
  }
  std::vector<std::string> prompts;
  for (const std::string& label : labels) {
    prompts.push_back(prompt_template.substr(0, slot) + label + prompt_template.substr(slot + 2));
  }
  Result<ClipOptions> options = clip_options(args, "embeddings");
  if (!options.ok()) return usage_error(kCommand, options.status().message());

  Result<std::vector<std::string>> files = vision::expand_image_paths(args.positionals());
  if (!files.ok()) return failure(kCommand, files.status());
  Result<std::shared_ptr<ClipModel>> model = ClipModel::load(args.get("--model"), *options);
  if (!model.ok()) return failure(kCommand, model.status());
  Result<Tensor> label_embeds = (*model)->embed_texts(prompts);
  if (!label_embeds.ok()) return failure(kCommand, label_embeds.status());
  Result<Tensor> image_embeds = (*model)->embed_image_files(*files);
  if (!image_embeds.ok()) return failure(kCommand, image_embeds.status());
  Result<Tensor> probs = (*model)->classify(*image_embeds, *label_embeds);
  if (!probs.ok()) return failure(kCommand, probs.status());

  nlohmann::json json = {{"labels", labels}, {"prompts", prompts}};
  json["results"] = nlohmann::json::array();
  const size_t n_labels = labels.size();
  for (size_t i = 0; i < files->size(); ++i) {
    const float* row = probs->data<float>() + i * n_labels;
    const size_t best = static_cast<size_t>(std::max_element(row, row + n_labels) - row);
    nlohmann::json p = nlohmann::json::array();
    for (size_t k = 0; k < n_labels; ++k) p.push_back(json_float(row[k]));
    json["results"].push_back({{"image", (*files)[i]},
                               {"label", labels[best]},
                               {"probability", json_float(row[best])},
                               {"probabilities", p}});
  }
  Status written = write_clip_output(args.get("--output"), json, *probs, /*indent=*/true);
  if (!written.ok()) return failure(kCommand, written);
  return kExitOk;
}

}  // namespace vitrt::cli
