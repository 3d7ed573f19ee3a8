// GIF through giflib, giving the first frame as PIL's GifImagePlugin does when it opens a file:
// a canvas of the logical screen (grown if the frame reaches past it) filled with the frame's
// transparent index, or index 0, and the frame's pixels placed at its offset. A palette that
// is the identity grey ramp, or none at all, gives grey levels equal to the indices (PIL's "L");
// otherwise indices map through the local or global palette, an index past its end to black.
// A transparent index becomes an alpha band (PIL's info["transparency"], which HF's
// convert_rgb composites onto white). Later frames of an animation are not read.
#include <gif_lib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <vector>

#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

struct GifReader {
  const uint8_t* data;
  size_t size;
  size_t offset;
};

int read_gif_bytes(GifFileType* gif, GifByteType* out, int count) {
  auto* reader = static_cast<GifReader*>(gif->UserData);
  const size_t n = std::min(static_cast<size_t>(std::max(count, 0)), reader->size - reader->offset);
  std::memcpy(out, reader->data + reader->offset, n);
  reader->offset += n;
  return static_cast<int>(n);
}

struct GifCloser {
  void operator()(GifFileType* gif) const {
    int error = 0;
    DGifCloseFile(gif, &error);
  }
};

// PIL's _is_palette_needed: false when entry i is (i, i, i) for every entry.
bool is_grey_ramp(const ColorMapObject* map) {
  for (int i = 0; i < map->ColorCount; ++i) {
    const GifColorType& c = map->Colors[i];
    if (c.Red != i || c.Green != i || c.Blue != i) return false;
  }
  return true;
}

Status gif_error(const std::string& source, const GifFileType* gif, const GifReader& reader,
                 const char* where) {
  if (reader.offset >= reader.size) {
    return invalid_argument(source, ": truncated GIF (the file ends in ", where, ")");
  }
  return invalid_argument(source, ": corrupt GIF in ", where,
                          " (giflib: ", GifErrorString(gif->Error), ")");
}

}  // namespace

bool is_gif(const uint8_t* data, size_t size) {
  return size >= 6 && (std::memcmp(data, "GIF87a", 6) == 0 || std::memcmp(data, "GIF89a", 6) == 0);
}

Result<DecodedImage> decode_gif(const uint8_t* data, size_t size, const std::string& source,
                                const DecodeOptions& options) {
  GifReader reader{data, size, 0};
  int open_error = 0;
  std::unique_ptr<GifFileType, GifCloser> gif(DGifOpen(&reader, read_gif_bytes, &open_error));
  if (gif == nullptr) {
    if (reader.offset >= size) {
      return invalid_argument(source, ": truncated GIF (the file ends in its header)");
    }
    return invalid_argument(source, ": corrupt GIF header (giflib: ", GifErrorString(open_error),
                            ")");
  }
  int transparency = -1;
  for (;;) {
    GifRecordType type = UNDEFINED_RECORD_TYPE;
    if (DGifGetRecordType(gif.get(), &type) == GIF_ERROR) {
      return gif_error(source, gif.get(), reader, "a record");
    }
    if (type == TERMINATE_RECORD_TYPE) {
      return invalid_argument(source, ": GIF has no image (the file ends before its first frame)");
    }
    if (type == EXTENSION_RECORD_TYPE) {
      int code = 0;
      GifByteType* block = nullptr;
      if (DGifGetExtension(gif.get(), &code, &block) == GIF_ERROR) {
        return gif_error(source, gif.get(), reader, "an extension");
      }
      // Graphic control: flags, delay (2 bytes), transparent index.
      if (code == GRAPHICS_EXT_FUNC_CODE && block != nullptr && block[0] >= 4 && (block[1] & 1)) {
        transparency = block[4];
      }
      while (block != nullptr) {
        if (DGifGetExtensionNext(gif.get(), &block) == GIF_ERROR) {
          return gif_error(source, gif.get(), reader, "an extension");
        }
      }
      continue;
    }
    if (type != IMAGE_DESC_RECORD_TYPE) continue;

    if (DGifGetImageDesc(gif.get()) == GIF_ERROR) {
      return gif_error(source, gif.get(), reader, "the first frame's descriptor");
    }
    const GifImageDesc& frame = gif->Image;
    const int64_t canvas_w = std::max<int64_t>(gif->SWidth, int64_t{frame.Left} + frame.Width);
    const int64_t canvas_h = std::max<int64_t>(gif->SHeight, int64_t{frame.Top} + frame.Height);
    VITRT_RETURN_IF_ERROR(check_image_size(canvas_w, canvas_h, source, options));
    const ColorMapObject* map = frame.ColorMap != nullptr ? frame.ColorMap : gif->SColorMap;
    const bool grey = map == nullptr || is_grey_ramp(map);

    const auto width = static_cast<size_t>(canvas_w);
    const auto height = static_cast<size_t>(canvas_h);
    std::vector<uint8_t> indices(width * height,
                                 static_cast<uint8_t>(transparency >= 0 ? transparency : 0));
    std::vector<GifPixelType> line(static_cast<size_t>(std::max(frame.Width, 1)));
    // Interlaced frames store rows 0, 8, 16, ..., then 4, 12, ..., then 2, 6, ..., then 1, 3, ....
    static constexpr int kStart[] = {0, 4, 2, 1};
    static constexpr int kStep[] = {8, 8, 4, 2};
    std::vector<int> order;
    if (frame.Interlace) {
      for (int pass = 0; pass < 4; ++pass) {
        for (int y = kStart[pass]; y < frame.Height; y += kStep[pass]) order.push_back(y);
      }
    } else {
      for (int y = 0; y < frame.Height; ++y) order.push_back(y);
    }
    for (const int y : order) {
      if (frame.Width > 0 && DGifGetLine(gif.get(), line.data(), frame.Width) == GIF_ERROR) {
        return gif_error(source, gif.get(), reader, "the first frame's pixels");
      }
      std::memcpy(indices.data() + (size_t(frame.Top) + size_t(y)) * width + size_t(frame.Left),
                  line.data(), static_cast<size_t>(frame.Width));
    }

    const bool alpha = transparency >= 0;
    DecodedImage result;
    result.image = Image::allocate(static_cast<int>(width), static_cast<int>(height),
                                   grey ? (alpha ? PixelMode::kGrayAlpha : PixelMode::kGray)
                                        : (alpha ? PixelMode::kRgba : PixelMode::kRgb));
    uint8_t* out = result.image.pixels.data();
    for (const uint8_t index : indices) {
      if (grey) {
        *out++ = index;
      } else if (index < map->ColorCount) {
        const GifColorType& c = map->Colors[index];
        *out++ = c.Red;
        *out++ = c.Green;
        *out++ = c.Blue;
      } else {
        *out++ = 0;
        *out++ = 0;
        *out++ = 0;
      }
      if (alpha) *out++ = index == transparency ? 0 : 255;
    }
    return result;
  }
}

}  // namespace vitrt::vision
