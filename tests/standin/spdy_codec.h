#pragma once
/// SPDY/3.1 framing as kubectl and the kubelet speak it (port-forward, and exec/attach before
/// WebSocket): frames in, frames out, with the header blocks compressed by one zlib stream per
/// direction and session, primed with the protocol's dictionary. Pure (no I/O); one reader and
/// one writer per session, each used by one thread at a time.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::standin::spdy {

enum ControlType : uint16_t {
  kSynStream = 1,
  kSynReply = 2,
  kRstStream = 3,
  kSettings = 4,
  kPing = 6,
  kGoAway = 7,
  kHeaders = 8,
  kWindowUpdate = 9,
};

/// DATA and SYN_* frames: the sender's side of the stream ends with this frame.
constexpr uint8_t kFlagFin = 0x01;
/// SYN_STREAM: the receiver may not send on this stream.
constexpr uint8_t kFlagUnidirectional = 0x02;

/// RST_STREAM status codes used here.
constexpr uint32_t kProtocolError = 1;
constexpr uint32_t kCancel = 5;

/// A header block's pairs, names in lower case as SPDY/3 requires; a value may hold several
/// values separated by NUL.
using Headers = std::vector<std::pair<std::string, std::string>>;

/// The first value of `name` (case-insensitive), or nullopt.
std::optional<std::string> headerValue(const Headers& headers, std::string_view name);

struct Frame {
  bool control = false;
  /// Control frames: ControlType (unknown types are returned too, to be ignored).
  uint16_t type = 0;
  uint8_t flags = 0;
  /// DATA, SYN_STREAM, SYN_REPLY, RST_STREAM, HEADERS, WINDOW_UPDATE.
  uint32_t stream_id = 0;
  /// RST_STREAM status, PING id, GOAWAY last good stream, WINDOW_UPDATE delta.
  uint32_t value = 0;
  /// SYN_STREAM, SYN_REPLY, HEADERS, decompressed.
  Headers headers;
  /// DATA payload.
  std::string data;
};

/// The zlib dictionary of SPDY/3 header compression (1423 bytes).
const std::string& headerDictionary();

/// The uncompressed header block: count, then length-prefixed names and values.
std::string encodeHeaderBlock(const Headers& headers);
absl::StatusOr<Headers> decodeHeaderBlock(std::string_view block);

/// Reads frames from a byte stream that arrives in pieces of any size.
class FrameReader {
 public:
  FrameReader();
  ~FrameReader();
  FrameReader(const FrameReader&) = delete;
  FrameReader& operator=(const FrameReader&) = delete;

  void feed(std::string_view bytes);
  /// The next complete frame, nullopt until more bytes arrive, or an error that ends the
  /// session (wrong version, a header block that does not inflate).
  absl::StatusOr<std::optional<Frame>> next();

 private:
  struct Inflater;
  std::string buf_;
  size_t pos_ = 0;
  std::unique_ptr<Inflater> inflater_;
};

/// Writes frames; control frames with headers share the session's compression stream, so
/// their bytes must reach the peer in the order they were made.
class FrameWriter {
 public:
  FrameWriter();
  ~FrameWriter();
  FrameWriter(const FrameWriter&) = delete;
  FrameWriter& operator=(const FrameWriter&) = delete;

  std::string synStream(uint32_t stream_id, const Headers& headers, uint8_t flags);
  std::string synReply(uint32_t stream_id, const Headers& headers, uint8_t flags);

  /// A DATA frame's 8-byte head; the payload follows it on the wire.
  static std::string dataHead(uint32_t stream_id, size_t length, bool fin);
  static std::string data(uint32_t stream_id, std::string_view payload, bool fin);
  static std::string rstStream(uint32_t stream_id, uint32_t status);
  static std::string ping(uint32_t id);
  static std::string goAway(uint32_t last_good_stream_id, uint32_t status);

 private:
  struct Deflater;
  std::string compressed(const Headers& headers);
  std::unique_ptr<Deflater> deflater_;
};

}  // namespace kubehub::standin::spdy
