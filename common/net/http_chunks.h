#pragma once
/// HTTP/1.1 chunked transfer coding (RFC 9112 section 7.1), written in one place for every
/// body kubehub frames itself: the hub's answers from its cache and the tunnel pumps of hub and
/// agent (common/tunnel/body_pump.h). Pure.
#include <cstddef>
#include <cstdio>
#include <string_view>

namespace kubehub::net {

/// The last chunk, which ends a chunked body (no trailers).
inline constexpr std::string_view kLastChunk = "0\r\n\r\n";
/// What follows a chunk's bytes.
inline constexpr std::string_view kChunkEnd = "\r\n";

/// The size line before a chunk of `n` bytes ("1f40\r\n"); `n` must not be 0 (that is the last
/// chunk).
class ChunkSizeLine {
 public:
  explicit ChunkSizeLine(size_t n) {
    int len = std::snprintf(text_, sizeof(text_), "%zx\r\n", n);
    len_ = len > 0 ? static_cast<size_t>(len) : 0;
  }
  std::string_view view() const { return {text_, len_}; }

 private:
  char text_[24];
  size_t len_ = 0;
};

}  // namespace kubehub::net
