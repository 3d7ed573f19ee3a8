// Text embedding throughput with end-token truncation (ClipModel's default: each batch runs up
// to its longest end token) against padding every text to the context length (77), as
// open_clip and HF do, on realistic short prompts: "a photo of a {label}." over 100 labels.
//
//   clip_text_truncation MODEL_DIR [REPEATS]
//
// MODEL_DIR is a CLIP model folder built by `vitrt build` (bench/clip_text_truncation/run.sh
// makes one). Prints texts/s both ways (median of REPEATS runs after one warm-up, wall clock
// and process CPU time), their ratio, and the smallest cosine between the two ways'
// embeddings (they must agree: the causal mask makes the padding irrelevant).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "vitrt/clip.h"

namespace {

// 100 everyday object classes (a mix of ImageNet and COCO names), one or two words each.
const char* const kLabels[] = {"cat",           "dog",          "horse",          "sheep",
                               "cow",           "elephant",     "bear",           "zebra",
                               "giraffe",       "bird",         "goldfish",       "shark",
                               "frog",          "turtle",       "snake",          "spider",
                               "butterfly",     "bee",          "rabbit",         "squirrel",
                               "fox",           "wolf",         "lion",           "tiger",
                               "monkey",        "panda",        "koala",          "penguin",
                               "owl",           "eagle",        "person",         "bicycle",
                               "car",           "motorcycle",   "airplane",       "bus",
                               "train",         "truck",        "boat",           "traffic light",
                               "fire hydrant",  "stop sign",    "parking meter",  "bench",
                               "backpack",      "umbrella",     "handbag",        "tie",
                               "suitcase",      "frisbee",      "skis",           "snowboard",
                               "kite",          "baseball bat", "skateboard",     "surfboard",
                               "tennis racket", "bottle",       "wine glass",     "cup",
                               "fork",          "knife",        "spoon",          "bowl",
                               "banana",        "apple",        "sandwich",       "orange",
                               "broccoli",      "carrot",       "hot dog",        "pizza",
                               "donut",         "cake",         "chair",          "couch",
                               "potted plant",  "bed",          "dining table",   "toilet",
                               "television",    "laptop",       "computer mouse", "remote control",
                               "keyboard",      "cell phone",   "microwave",      "oven",
                               "toaster",       "sink",         "refrigerator",   "book",
                               "clock",         "vase",         "scissors",       "teddy bear",
                               "hair drier",    "toothbrush",   "lighthouse",     "volcano"};

double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

struct Timing {
  double wall_s = 0;
  double cpu_s = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s MODEL_DIR [REPEATS]\n", argv[0]);
    return 2;
  }
  const int repeats = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  std::vector<std::string> prompts;
  for (const char* label : kLabels) prompts.push_back(std::string("a photo of a ") + label + ".");

  vitrt::ClipOptions truncated_options, padded_options;
  padded_options.pad_texts_to_context = true;
  auto truncated = vitrt::ClipModel::load(argv[1], truncated_options);
  auto padded = vitrt::ClipModel::load(argv[1], padded_options);
  if (!truncated.ok() || !padded.ok()) {
    std::fprintf(stderr, "%s\n",
                 (truncated.ok() ? padded : truncated).status().to_string().c_str());
    return 1;
  }
  // Token positions each way runs: ClipModel sorts texts by length and pads each batch of
  // max_batch to its longest; the padded way runs context_length positions per text.
  std::vector<int64_t> lengths;
  for (const std::string& p : prompts) {
    lengths.push_back(static_cast<int64_t>((*truncated)->tokenize(p)->size()));
  }
  std::sort(lengths.begin(), lengths.end());
  int64_t tokens = 0, positions = 0;
  const int64_t batch = truncated_options.max_batch;
  for (size_t i = 0; i < lengths.size(); ++i) {
    tokens += lengths[i];
    if (i % batch == 0) {
      const size_t last = std::min(lengths.size(), i + batch) - 1;
      positions += lengths[last] * static_cast<int64_t>(last - i + 1);
    }
  }
  const int context = (*truncated)->context_length();
  std::printf(
      "%zu prompts \"a photo of a {label}.\": %.1f tokens on average; positions run: %lld "
      "truncated, %lld padded to %d\n",
      prompts.size(), static_cast<double>(tokens) / static_cast<double>(prompts.size()),
      static_cast<long long>(positions), static_cast<long long>(context * lengths.size()), context);

  vitrt::Tensor embeds[2];
  std::vector<double> wall[2], cpu[2];
  const std::shared_ptr<vitrt::ClipModel> models[2] = {*truncated, *padded};
  // One warm-up each, then the two ways alternate so that load changes hit both alike.
  for (int r = -1; r < repeats; ++r) {
    for (int m = 0; m < 2; ++m) {
      const double c0 = cpu_seconds();
      const auto t0 = std::chrono::steady_clock::now();
      auto result = models[m]->embed_texts(prompts);
      const double w = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      const double c = cpu_seconds() - c0;
      if (!result.ok()) {
        std::fprintf(stderr, "%s\n", result.status().to_string().c_str());
        return 1;
      }
      embeds[m] = *result;
      if (r >= 0) {
        wall[m].push_back(w);
        cpu[m].push_back(c);
      }
    }
  }
  const int64_t n = embeds[0].dim(0), d = embeds[0].dim(1);
  double worst = 1;
  for (int64_t i = 0; i < n; ++i) {
    double dot = 0;
    for (int64_t k = 0; k < d; ++k) {
      dot += static_cast<double>(embeds[0].data<float>()[i * d + k]) *
             embeds[1].data<float>()[i * d + k];
    }
    worst = std::min(worst, dot);  // both normalised
  }
  const char* names[2] = {"truncated at end token", "padded to context"};
  double rate_wall[2], rate_cpu[2];
  for (int m = 0; m < 2; ++m) {
    rate_wall[m] = static_cast<double>(n) / median(wall[m]);
    rate_cpu[m] = static_cast<double>(n) / median(cpu[m]);
    std::printf("%-24s median %8.3f s wall (%7.1f texts/s), %8.3f CPU-s (%7.1f texts/CPU-s)\n",
                names[m], median(wall[m]), rate_wall[m], median(cpu[m]), rate_cpu[m]);
  }
  std::printf("ratio truncated/padded: %.2fx wall, %.2fx CPU time; min cosine %.8f\n",
              rate_wall[0] / rate_wall[1], rate_cpu[0] / rate_cpu[1], worst);
  return worst >= 0.99999 ? 0 : 1;
}
