// AVIF through libavif, loaded at run time (libavif.so.15, Debian's `libavif15`): PIL 13 reads
// AVIF by default, and libavif 0.11's 8-bit RGB(A) conversion with its defaults gives PIL's pixels
// bit for bit (bench/NOTES.md). Loading it lazily keeps it, and its AV1 codecs, off binaries that
// never see an AVIF (the GPU bundle); without it an AVIF fails with a message saying what to
// install. The first frame of an animation, as PIL's open gives; the orientation from the
// irot/imir boxes, mapped to an EXIF orientation as PIL maps them (its EXIF payload is ignored
// then, as PIL overrides it).
#include <avif/avif.h>
#include <dlfcn.h>

#include <cstring>
#include <memory>
#include <mutex>
#include <type_traits>

#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

struct Avif {
  void* handle = nullptr;
  decltype(&avifDecoderCreate) decoder_create = nullptr;
  decltype(&avifDecoderDestroy) decoder_destroy = nullptr;
  decltype(&avifDecoderSetIOMemory) set_io_memory = nullptr;
  decltype(&avifDecoderParse) parse = nullptr;
  decltype(&avifDecoderNextImage) next_image = nullptr;
  decltype(&avifRGBImageSetDefaults) rgb_defaults = nullptr;
  decltype(&avifImageYUVToRGB) yuv_to_rgb = nullptr;
  decltype(&avifResultToString) result_string = nullptr;
  bool ok() const { return result_string != nullptr; }
};

const Avif& avif() {
  static Avif lib;
  static std::once_flag once;
  std::call_once(once, [] {
    void* h = dlopen("libavif.so.15", RTLD_NOW | RTLD_LOCAL);
    if (h == nullptr) return;
    Avif a;
    a.handle = h;
    bool all = true;
    auto get = [&](auto& fn, const char* name) {
      fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(h, name));
      all = all && fn != nullptr;
    };
    get(a.decoder_create, "avifDecoderCreate");
    get(a.decoder_destroy, "avifDecoderDestroy");
    get(a.set_io_memory, "avifDecoderSetIOMemory");
    get(a.parse, "avifDecoderParse");
    get(a.next_image, "avifDecoderNextImage");
    get(a.rgb_defaults, "avifRGBImageSetDefaults");
    get(a.yuv_to_rgb, "avifImageYUVToRGB");
    get(a.result_string, "avifResultToString");
    if (all) lib = a;
  });
  return lib;
}

// PIL's mapping of the irot (counter-clockwise quarter turns) and imir (mirror axis) boxes to an
// EXIF orientation; read off files PIL wrote in each orientation 1-8.
int orientation_of(const avifImage* image) {
  const bool irot = (image->transformFlags & AVIF_TRANSFORM_IROT) != 0;
  const bool imir = (image->transformFlags & AVIF_TRANSFORM_IMIR) != 0;
  const int axis = image->imir.mode;
  if (irot) {
    switch (image->irot.angle) {
      case 1:
        return imir ? (axis != 0 ? 7 : 5) : 8;
      case 2:
        return imir ? (axis != 0 ? 4 : 2) : 3;
      case 3:
        return imir ? (axis != 0 ? 5 : 7) : 6;
      default:
        break;
    }
  }
  if (imir) return axis != 0 ? 2 : 4;
  return 1;
}

}  // namespace

bool is_avif(const uint8_t* data, size_t size) {
  if (size < 12 || std::memcmp(data + 4, "ftyp", 4) != 0) return false;
  const uint8_t* brand = data + 8;  // PIL's list of major brands
  return std::memcmp(brand, "avif", 4) == 0 || std::memcmp(brand, "avis", 4) == 0 ||
         std::memcmp(brand, "mif1", 4) == 0 || std::memcmp(brand, "msf1", 4) == 0;
}

Result<DecodedImage> decode_avif(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options) {
  const Avif& lib = avif();
  if (!lib.ok()) {
    return unsupported(source,
                       ": AVIF needs libavif (libavif.so.15, Debian's libavif15), which is not "
                       "installed");
  }
  std::unique_ptr<avifDecoder, decltype(lib.decoder_destroy)> decoder(lib.decoder_create(),
                                                                      lib.decoder_destroy);
  if (decoder == nullptr) return internal_error(source, ": libavif could not create a decoder");
  decoder->ignoreExif = AVIF_TRUE;
  decoder->ignoreXMP = AVIF_TRUE;
  auto failed = [&](const char* what, avifResult r) {
    return invalid_argument(source, ": corrupt or truncated AVIF: ", what,
                            " (libavif: ", lib.result_string(r), ")");
  };
  avifResult r = lib.set_io_memory(decoder.get(), data, size);
  if (r != AVIF_RESULT_OK) return failed("its data could not be read", r);
  r = lib.parse(decoder.get());
  if (r != AVIF_RESULT_OK) return failed("its header could not be parsed", r);
  const avifImage* image = decoder->image;
  VITRT_RETURN_IF_ERROR(check_image_size(image->width, image->height, source, options));
  r = lib.next_image(decoder.get());
  if (r != AVIF_RESULT_OK) return failed("its first image could not be decoded", r);
  image = decoder->image;
  VITRT_RETURN_IF_ERROR(check_image_size(image->width, image->height, source, options));

  const bool alpha = decoder->alphaPresent != AVIF_FALSE;
  DecodedImage result;
  result.image = Image::allocate(static_cast<int>(image->width), static_cast<int>(image->height),
                                 alpha ? PixelMode::kRgba : PixelMode::kRgb);
  avifRGBImage rgb;
  lib.rgb_defaults(&rgb, image);
  rgb.format = alpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB;
  rgb.depth = 8;  // PIL asks for 8 bits whatever the file's depth
  rgb.pixels = result.image.pixels.data();
  rgb.rowBytes = static_cast<uint32_t>(result.image.row_bytes());
  r = lib.yuv_to_rgb(image, &rgb);
  if (r != AVIF_RESULT_OK) return failed("its colours could not be converted", r);
  result.exif_orientation = orientation_of(image);
  return result;
}

}  // namespace vitrt::vision
