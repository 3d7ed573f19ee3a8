// The timing cache file: round trip, and that a damaged file is ignored with a warning.
#include "runtime/timing_cache.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vitrt {
namespace {

std::string temp_path(const std::string& name) {
  return ::testing::TempDir() + "/" + name;
}

std::string read_all(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

void write_all(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << text;
}

TimingCache two_entries() {
  TimingCache c;
  EXPECT_TRUE(c.put("H200|sm_90|fp16|m50432n3072k768|gelu+bias", "mode=1 algo=00ff ms=0.86").ok());
  EXPECT_TRUE(c.put("H200|sm_90|fp16|m197n768k768|none+bias", "mode=0 algo=0a ms=0.01").ok());
  return c;
}

TEST(TimingCacheTest, MissingFileIsAnEmptyCacheWithoutWarning) {
  std::string warning = "x";
  TimingCache c = TimingCache::load(temp_path("no_such_timing.cache"), &warning);
  EXPECT_EQ(c.size(), 0u);
  EXPECT_TRUE(warning.empty());
}

TEST(TimingCacheTest, SaveThenLoadGivesTheSameEntries) {
  const std::string path = temp_path("roundtrip_timing.cache");
  ASSERT_TRUE(two_entries().save(path).ok());
  std::string warning;
  TimingCache c = TimingCache::load(path, &warning);
  EXPECT_TRUE(warning.empty()) << warning;
  ASSERT_EQ(c.size(), 2u);
  ASSERT_NE(c.find("H200|sm_90|fp16|m197n768k768|none+bias"), nullptr);
  EXPECT_EQ(*c.find("H200|sm_90|fp16|m197n768k768|none+bias"), "mode=0 algo=0a ms=0.01");
  EXPECT_EQ(c.find("H200|sm_90|fp16|m1n1k1|none"), nullptr);
}

TEST(TimingCacheTest, RefusesEntriesThatWouldBreakTheFormat) {
  TimingCache c;
  EXPECT_FALSE(c.put("a\tb", "v").ok());
  EXPECT_FALSE(c.put("a", "v\n").ok());
  EXPECT_FALSE(c.put("", "v").ok());
  EXPECT_EQ(c.size(), 0u);
}

TEST(TimingCacheTest, DamagedFilesAreIgnoredWithAWarning) {
  const std::string path = temp_path("damaged_timing.cache");
  ASSERT_TRUE(two_entries().save(path).ok());
  const std::string good = read_all(path);
  const size_t body = good.find('\n') + 1;
  std::string flipped = good;
  flipped[body + 3] ^= 0x01;
  std::string no_tab = good.substr(0, body) + "keyvalue\n";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"empty", ""},
      {"not a cache", "P5\n255\n\x01\x02"},
      {"other version", "vitrt-timing-cache 2 00000000\n"},
      {"a flipped bit", flipped},
      {"cut short", good.substr(0, good.size() - 7)},
      {"a line without a tab (checksum also off)", no_tab},
  };
  for (const auto& [what, text] : cases) {
    write_all(path, text);
    std::string warning;
    TimingCache c = TimingCache::load(path, &warning);
    EXPECT_EQ(c.size(), 0u) << what;
    EXPECT_NE(warning.find("ignored"), std::string::npos) << what << ": " << warning;
    EXPECT_NE(warning.find(path), std::string::npos) << what << ": " << warning;
  }
  // A cache that fails to load is replaced whole by the next save.
  ASSERT_TRUE(two_entries().save(path).ok());
  std::string warning;
  EXPECT_EQ(TimingCache::load(path, &warning).size(), 2u);
  EXPECT_FALSE(std::filesystem::exists(path + ".tmp"));
}

}  // namespace
}  // namespace vitrt
