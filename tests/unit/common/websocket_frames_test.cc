#include "common/net/websocket_frames.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace kubehub::net {
namespace {

/// A server frame (unmasked) with `payload`, or a client frame (masked) when `mask`.
std::string frame(std::string_view payload, bool mask = false, uint8_t opcode = 0x2) {
  std::string f;
  f += static_cast<char>(0x80 | opcode);
  uint8_t m = mask ? 0x80 : 0;
  if (payload.size() < 126) {
    f += static_cast<char>(m | payload.size());
  } else if (payload.size() <= 0xffff) {
    f += static_cast<char>(m | 126);
    f += static_cast<char>(payload.size() >> 8);
    f += static_cast<char>(payload.size() & 0xff);
  } else {
    f += static_cast<char>(m | 127);
    for (int i = 7; i >= 0; --i)
      f += static_cast<char>((uint64_t{payload.size()} >> (8 * i)) & 0xff);
  }
  if (mask) f += std::string("\x01\x02\x03\x04", 4);
  f += payload;
  return f;
}

/// How `stream`, arriving in pieces of `piece` bytes, is split: the writes a proxy makes.
std::vector<std::string> writes(const std::string& stream, size_t piece) {
  WebSocketFrameBoundaries b;
  std::vector<std::string> out;
  for (size_t at = 0; at < stream.size(); at += piece) {
    std::string_view chunk = std::string_view(stream).substr(at, piece);
    while (!chunk.empty()) {
      size_t n = b.take(chunk);
      out.emplace_back(chunk.substr(0, n));
      chunk.remove_prefix(n);
    }
  }
  return out;
}

TEST(WebSocketFrameBoundaries, SplitsFramesThatArriveTogether) {
  std::string a = frame("\x01out\n"), b = frame("\x03{\"status\":\"Success\"}"),
              close = frame("\x03\xe8", false, 0x8);
  EXPECT_EQ(writes(a + b + close, 1 << 16), (std::vector<std::string>{a, b, close}));
}

TEST(WebSocketFrameBoundaries, EveryLengthFormAndMaskedFrames) {
  std::string small = frame(std::string(125, 's')), medium = frame(std::string(126, 'm')),
              large = frame(std::string(70000, 'l')), masked = frame("hello", true),
              empty = frame("", false, 0x9);
  std::string all = small + medium + large + masked + empty;
  EXPECT_EQ(writes(all, all.size()),
            (std::vector<std::string>{small, medium, large, masked, empty}));
}

TEST(WebSocketFrameBoundaries, AnyArrivalPatternGivesTheSameBoundaries) {
  std::string all = frame("a") + frame(std::string(300, 'b')) + frame("", false, 0xA) +
                    frame(std::string(20000, 'c'), true) + frame("d");
  std::vector<size_t> ends;
  size_t at = 0;
  for (const auto& f : {frame("a"), frame(std::string(300, 'b')), frame("", false, 0xA),
                        frame(std::string(20000, 'c'), true), frame("d")}) {
    at += f.size();
    ends.push_back(at);
  }
  for (size_t piece : {1u, 2u, 3u, 7u, 13u, 128u, 4096u, 65536u}) {
    // A write never goes past a frame's end, and every frame's end is the end of a write.
    std::vector<size_t> write_ends;
    size_t pos = 0;
    for (const auto& w : writes(all, piece)) {
      ASSERT_FALSE(w.empty()) << piece;
      pos += w.size();
      write_ends.push_back(pos);
    }
    EXPECT_EQ(pos, all.size());
    for (size_t e : ends) {
      EXPECT_NE(std::find(write_ends.begin(), write_ends.end(), e), write_ends.end())
          << "piece " << piece << " frame end " << e;
    }
  }
}

TEST(WebSocketFrameBoundaries, KnowsWhenItIsBetweenFrames) {
  WebSocketFrameBoundaries b;
  EXPECT_TRUE(b.atBoundary());
  std::string f = frame("xyz");
  EXPECT_EQ(b.take(std::string_view(f).substr(0, 1)), 1u);
  EXPECT_FALSE(b.atBoundary());
  EXPECT_EQ(b.take(std::string_view(f).substr(1)), f.size() - 1);
  EXPECT_TRUE(b.atBoundary());
}

}  // namespace
}  // namespace kubehub::net
