// JPEG through libjpeg-turbo with the settings PIL's JpegDecode uses: the library defaults
// (accurate integer DCT, fancy upsampling), grayscale -> L, YCbCr/RGB -> RGB, CMYK/YCCK ->
// CMYK. PIL always reads CMYK with Adobe's inverted polarity ("CMYK;I"), so the samples are
// inverted here too.
#include <csetjmp>
#include <cstdio>
#include <cstring>

#include <jpeglib.h>
// jerror.h after jpeglib.h: it needs its types.
#include <jerror.h>

#include "vision/exif_orientation.h"
#include "vision/image_decoders.h"

namespace vitrt::vision {
namespace {

// libjpeg reports fatal errors through error_exit, which must not return: it longjmps back to
// decode_jpeg. Only plain C data lives between the setjmp and the libjpeg calls.
struct JpegErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
  bool truncated;
};

void on_jpeg_error(j_common_ptr cinfo) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, err->message);
  std::longjmp(err->jump, 1);
}

// Warnings are not fatal to libjpeg (it pads a truncated file with grey), but PIL refuses a
// truncated file ("image file is truncated"), and so do we. Other warnings (extraneous bytes
// between markers, ...) are tolerated, as in PIL.
void on_jpeg_message(j_common_ptr cinfo, int level) {
  auto* err = reinterpret_cast<JpegErrorManager*>(cinfo->err);
  if (level < 0 && cinfo->err->msg_code == JWRN_JPEG_EOF) err->truncated = true;
}

}  // namespace

bool is_jpeg(const uint8_t* data, size_t size) {
  return size >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF;
}

Result<DecodedImage> decode_jpeg(const uint8_t* data, size_t size, const std::string& source,
                                 const DecodeOptions& options) {
  DecodedImage result;
  Status size_status;
  jpeg_decompress_struct cinfo;
  JpegErrorManager err;
  std::memset(&err, 0, sizeof(err));
  cinfo.err = jpeg_std_error(&err.base);
  err.base.error_exit = on_jpeg_error;
  err.base.emit_message = on_jpeg_message;
  jpeg_create_decompress(&cinfo);
  if (setjmp(err.jump) != 0) {
    jpeg_destroy_decompress(&cinfo);
    return invalid_argument(source, ": corrupt JPEG: ", err.message);
  }
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
  jpeg_read_header(&cinfo, TRUE);
  if (err.truncated) {
    jpeg_destroy_decompress(&cinfo);
    return invalid_argument(source, ": truncated JPEG (the file ends inside the header)");
  }
  size_status = check_image_size(cinfo.image_width, cinfo.image_height, source, options);
  if (!size_status.ok()) {
    jpeg_destroy_decompress(&cinfo);
    return size_status;
  }
  // PIL keeps the first APP1 segment that carries the "Exif\0\0" identifier.
  for (jpeg_saved_marker_ptr m = cinfo.marker_list; m != nullptr; m = m->next) {
    if (m->marker == JPEG_APP0 + 1 && m->data_length >= 6 &&
        std::memcmp(m->data, "Exif\0\0", 6) == 0) {
      result.exif_orientation = exif_orientation(m->data, m->data_length);
      break;
    }
  }
  PixelMode mode = PixelMode::kRgb;
  switch (cinfo.num_components) {
    case 1:
      cinfo.out_color_space = JCS_GRAYSCALE;
      mode = PixelMode::kGray;
      break;
    case 3:
      cinfo.out_color_space = JCS_RGB;
      mode = PixelMode::kRgb;
      break;
    case 4:
      cinfo.out_color_space = JCS_CMYK;
      mode = PixelMode::kCmyk;
      break;
    default:
      jpeg_destroy_decompress(&cinfo);
      return unsupported(source, ": JPEG with ", cinfo.num_components,
                         " components (expected 1, 3 or 4)");
  }
  jpeg_start_decompress(&cinfo);
  result.image = Image::allocate(static_cast<int>(cinfo.output_width),
                                 static_cast<int>(cinfo.output_height), mode);
  while (cinfo.output_scanline < cinfo.output_height && !err.truncated) {
    JSAMPROW row = result.image.row(static_cast<int>(cinfo.output_scanline));
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  if (!err.truncated) jpeg_finish_decompress(&cinfo);
  jpeg_destroy_decompress(&cinfo);
  if (err.truncated) {
    return invalid_argument(source, ": truncated JPEG (premature end of data)");
  }
  if (mode == PixelMode::kCmyk) {
    for (uint8_t& v : result.image.pixels) v = static_cast<uint8_t>(255 - v);
  }
  return result;
}

}  // namespace vitrt::vision
