#pragma once
/// Where the frames of a WebSocket byte stream end (RFC 6455 section 5.2), so that a proxy can
/// pass each frame on in a TLS record of its own, as the API server does (every frame is one
/// write on its connection). Clients that wait with select() on the socket before reading a
/// frame (the Python client's WebSocket library does) never see a second frame that arrived in
/// the same TLS record as the first: it sits decrypted in their TLS library's buffer, not in
/// the socket. Pure; follows one direction of one stream; any byte sequence is accepted (a
/// proxy passes garbage on unchanged, it just may split it anywhere).

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace kubehub::net {

class WebSocketFrameBoundaries {
 public:
  /// Of `data`, the next bytes of the stream, how many end the current frame: the count up to
  /// and including the frame's last byte when it ends within `data`, else data.size().
  size_t take(std::string_view data);
  /// Whether the stream is at a frame boundary (nothing of a frame taken yet).
  bool atBoundary() const { return header_have_ == 0 && payload_left_ == 0 && !in_payload_; }

 private:
  uint8_t header_[14] = {};
  size_t header_have_ = 0;
  size_t header_need_ = 2;
  bool in_payload_ = false;
  uint64_t payload_left_ = 0;
};

}  // namespace kubehub::net
