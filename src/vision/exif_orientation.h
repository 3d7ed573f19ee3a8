// EXIF orientation: reading the tag from an EXIF block and turning an image upright.
//
// Only the Orientation tag (0x0112) of IFD0 is read, by a small reader that checks every
// offset against the block's size: EXIF blocks come from untrusted files, and the full EXIF
// structure (maker notes, sub-IFDs) is irrelevant to preprocessing.
#pragma once

#include <cstddef>
#include <cstdint>

#include "vision/image.h"

namespace vitrt::vision {

// The Orientation value (1..8) of an EXIF block: a TIFF header ("II*\0" or "MM\0*"), optionally
// preceded by the "Exif\0\0" identifier JPEG APP1 segments carry. 1 (upright) when the block is
// malformed, has no Orientation tag, or holds a value outside 1..8, as PIL's exif_transpose
// leaves such images alone.
int exif_orientation(const uint8_t* data, size_t size);

// The image transposed as PIL's ImageOps.exif_transpose does for `orientation` (2: mirror,
// 3: rotate 180, 4: flip, 5: transpose, 6: rotate 90 clockwise, 7: transverse, 8: rotate 90
// counter-clockwise); values outside 2..8 return the image unchanged.
Image apply_exif_orientation(Image image, int orientation);

}  // namespace vitrt::vision
