#include "common/net/http_chunks.h"

#include <gtest/gtest.h>

#include <cstdint>

namespace kubehub::net {
namespace {

TEST(HttpChunks, SizeLinesAreLowercaseHexWithCrlf) {
  EXPECT_EQ(ChunkSizeLine(1).view(), "1\r\n");
  EXPECT_EQ(ChunkSizeLine(15).view(), "f\r\n");
  EXPECT_EQ(ChunkSizeLine(16).view(), "10\r\n");
  EXPECT_EQ(ChunkSizeLine(32 * 1024).view(), "8000\r\n");
  EXPECT_EQ(ChunkSizeLine(SIZE_MAX).view(), "ffffffffffffffff\r\n");
  EXPECT_EQ(kLastChunk, "0\r\n\r\n");
  EXPECT_EQ(kChunkEnd, "\r\n");
}

}  // namespace
}  // namespace kubehub::net
