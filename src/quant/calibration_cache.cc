// The calibration cache: the histograms of one calibration, tagged with the model's
// fingerprint, so a rebuild (another method, other layer rules) skips running the model.
//
//   vitrt-calibration 1
//   model <fingerprint hex>
//   value <name length> <name> <min> <max> <amax> <bin width> <2048 counts>
// Floats are written with %a (hexadecimal: exact).
#include <cinttypes>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "quant/calibrator.h"

namespace vitrt::quant {

namespace {

std::string hex_float(double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%a", v);
  return buf;
}

}  // namespace

Status write_calibration_cache(const std::string& path, uint64_t fingerprint,
                               const Histograms& histograms) {
  std::ostringstream out;
  char model[32];
  std::snprintf(model, sizeof(model), "%016" PRIx64, fingerprint);
  out << "vitrt-calibration 1\nmodel " << model << "\n";
  for (const auto& [name, h] : histograms) {
    out << "value " << name.size() << " " << name << " " << hex_float(h.min()) << " "
        << hex_float(h.max()) << " " << hex_float(h.amax()) << " " << hex_float(h.bin_width());
    for (uint64_t c : h.counts()) out << " " << c;
    out << "\n";
  }
  // Written beside it, then renamed over it: a failed write keeps the cache there was.
  const std::string partial = path + ".partial";
  std::ofstream file(partial, std::ios::binary | std::ios::trunc);
  file << out.str();
  file.close();
  std::error_code ec;
  if (!file) {
    std::filesystem::remove(partial, ec);
    return not_found("cannot write the calibration cache '", path, "'");
  }
  std::filesystem::rename(partial, path, ec);
  if (ec) {
    const std::string why = ec.message();
    std::filesystem::remove(partial, ec);
    return not_found("cannot write the calibration cache '", path, "': ", why);
  }
  return Status::ok_status();
}

Result<Histograms> read_calibration_cache(const std::string& path, uint64_t fingerprint) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return not_found("cannot read the calibration cache '", path, "'");
  auto corrupt = [&](const std::string& what) {
    return invalid_argument("calibration cache '", path, "': ", what,
                            " (delete the file to calibrate again)");
  };
  std::string magic, version, key, model;
  file >> magic >> version >> key >> model;
  if (magic != "vitrt-calibration" || version != "1" || key != "model") {
    return corrupt("not a vitrt calibration cache of version 1");
  }
  char expected[32];
  std::snprintf(expected, sizeof(expected), "%016" PRIx64, fingerprint);
  if (model != expected) {
    return invalid_argument("calibration cache '", path, "' was made for another model (", model,
                            "; this one is ", expected,
                            "): delete it or pass another --calib-cache");
  }
  Histograms histograms;
  std::string tag;
  while (file >> tag) {
    size_t length = 0;
    if (tag != "value" || !(file >> length) || length == 0 || length > 4096) {
      return corrupt("bad value line");
    }
    file.get();  // the space before the name
    std::string name(length, '\0');
    file.read(name.data(), static_cast<std::streamsize>(length));
    std::string fields[4];
    for (std::string& f : fields) file >> f;
    std::vector<uint64_t> counts(AbsHistogram::kBins);
    for (uint64_t& c : counts) file >> c;
    if (!file) return corrupt(str_cat("truncated histogram of '", name, "'"));
    double v[4];
    for (int i = 0; i < 4; ++i) v[i] = std::strtod(fields[i].c_str(), nullptr);
    Result<AbsHistogram> h =
        AbsHistogram::restore(v[3], std::move(counts), static_cast<float>(v[0]),
                              static_cast<float>(v[1]), static_cast<float>(v[2]));
    if (!h.ok()) return corrupt(h.status().message());
    histograms.emplace(name, std::move(*h));
  }
  return histograms;
}

}  // namespace vitrt::quant
