#include "common/net/websocket_frames.h"

#include <algorithm>

namespace kubehub::net {

size_t WebSocketFrameBoundaries::take(std::string_view data) {
  size_t used = 0;
  while (used < data.size()) {
    if (!in_payload_) {
      header_[header_have_++] = static_cast<uint8_t>(data[used++]);
      if (header_have_ == 2) {
        // Second byte: mask bit and the 7-bit length, which says how much header follows.
        uint8_t len7 = header_[1] & 0x7f;
        header_need_ = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0) + ((header_[1] & 0x80) ? 4 : 0);
      }
      if (header_have_ < header_need_) continue;
      uint8_t len7 = header_[1] & 0x7f;
      if (len7 < 126) {
        payload_left_ = len7;
      } else {
        size_t bytes = len7 == 126 ? 2 : 8;
        payload_left_ = 0;
        for (size_t i = 0; i < bytes; ++i) payload_left_ = (payload_left_ << 8) | header_[2 + i];
      }
      header_have_ = 0;
      header_need_ = 2;
      if (payload_left_ == 0) return used;  // a frame with an empty payload ends here
      in_payload_ = true;
      continue;
    }
    uint64_t n = std::min<uint64_t>(payload_left_, data.size() - used);
    used += static_cast<size_t>(n);
    payload_left_ -= n;
    if (payload_left_ == 0) {
      in_payload_ = false;
      return used;
    }
  }
  return used;
}

}  // namespace kubehub::net
