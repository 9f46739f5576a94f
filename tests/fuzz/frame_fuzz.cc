// Fuzzes the tunnel frame decoder and every typed payload decoder: nothing may crash, and
// the frames of a message that decode must re-encode to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/frame.h"
#include "proto/handshake.h"

using namespace kubehub::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  std::string reencoded;
  size_t consumed = 0;
  while (consumed < in.size()) {
    auto frame = decodeFrame(in.substr(consumed), 64 * 1024);
    if (!frame.ok()) break;
    if (frame->size == 0 || frame->size > in.size() - consumed) std::abort();
    switch (frame->type) {
      case FrameType::kOpen:
        if (auto h = decodeRequestHead(frame->payload); h.ok()) {
          if (*encodeRequestHead(*h) != frame->payload) std::abort();
        }
        break;
      case FrameType::kResponse:
        if (auto h = decodeResponseHead(frame->payload); h.ok()) {
          if (*encodeResponseHead(*h) != frame->payload) std::abort();
        }
        break;
      case FrameType::kWindow:
        (void)decodeWindow(frame->payload);
        break;
      case FrameType::kReset:
        (void)decodeReset(frame->payload);
        break;
      case FrameType::kGoAway:
        (void)decodeGoAway(frame->payload);
        break;
      case FrameType::kHello:
        (void)decodeHello(frame->payload);
        break;
      case FrameType::kWelcome:
        (void)decodeWelcome(frame->payload);
        break;
      default:
        break;
    }
    reencoded += encodeFrame(frame->type, frame->flags, frame->stream, frame->payload);
    consumed += frame->size;
  }
  // Whatever decoded re-encodes to exactly the bytes it came from.
  if (reencoded != in.substr(0, consumed)) std::abort();
  return 0;
}
