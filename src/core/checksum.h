// CRC-32C (Castagnoli): the checksum of plan files.
//
// CRC-32C has a dedicated instruction on x86-64 (SSE4.2, part of the x86-64-v3 baseline we
// build for), so checking a plan's weights at load runs at memory speed; a table-driven
// fallback covers other targets. Incremental: pass the previous result as `crc` to continue.
#pragma once

#include <cstddef>
#include <cstdint>

namespace vitrt {

uint32_t crc32c(const void* data, size_t size, uint32_t crc = 0);

}  // namespace vitrt
