// CRC-32C against published check values and a bitwise reference implementation.
#include "core/checksum.h"

#include <gtest/gtest.h>

#include <cstring>
#include <vector>

namespace vitrt {
namespace {

// The textbook bit-at-a-time CRC-32C: slow, obviously right.
uint32_t reference_crc32c(const uint8_t* p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; ++i) {
    c ^= p[i];
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
  }
  return ~c;
}

TEST(Crc32cTest, CheckValues) {
  // The "check" value of CRC-32C (RFC 3720 / the CRC catalogue).
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  // RFC 3720 B.4: 32 bytes of zeros.
  std::vector<uint8_t> zeros(32, 0);
  EXPECT_EQ(crc32c(zeros.data(), zeros.size()), 0x8A9136AAu);
}

TEST(Crc32cTest, MatchesReferenceAtOddLengthsAndIncrementally) {
  std::vector<uint8_t> data(1037);
  uint32_t x = 12345;
  for (uint8_t& b : data) {
    x = x * 1103515245u + 12345u;
    b = static_cast<uint8_t>(x >> 16);
  }
  for (size_t n : {1u, 7u, 8u, 9u, 63u, 1037u}) {
    EXPECT_EQ(crc32c(data.data(), n), reference_crc32c(data.data(), n)) << n;
  }
  const uint32_t whole = crc32c(data.data(), data.size());
  const uint32_t first = crc32c(data.data(), 501);
  EXPECT_EQ(crc32c(data.data() + 501, data.size() - 501, first), whole);
}

}  // namespace
}  // namespace vitrt
