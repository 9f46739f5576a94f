// Fuzzes the tunnel frame decoder and every typed payload decoder: nothing may crash, and
// whatever decodes must re-encode to the same bytes.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "proto/frame.h"
#include "proto/handshake.h"

using namespace kubehub::proto;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  auto frame = decodeFrame(in, 64 * 1024);
  if (!frame.ok()) return 0;
  switch (frame->type) {
    case FrameType::kOpen:
      if (auto h = decodeRequestHead(frame->payload); h.ok()) {
        if (encodeRequestHead(*h) != frame->payload) std::abort();
      }
      break;
    case FrameType::kResponse:
      if (auto h = decodeResponseHead(frame->payload); h.ok()) {
        if (encodeResponseHead(*h) != frame->payload) std::abort();
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
  if (encodeFrame(frame->type, frame->flags, frame->stream, frame->payload) != in) std::abort();
  return 0;
}
