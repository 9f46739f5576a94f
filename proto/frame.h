#pragma once
/// The agent<->hub tunnel frame codec (see proto/PROTOCOL.md). Pure: no I/O, no allocation
/// beyond the frame being decoded, every length checked before use. Thread-compatible.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::proto {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kHeaderSize = 10;
/// Largest frame (header + payload), and largest WebSocket message, a peer may send unless the
/// handshake lowers it. A message carries one or more whole frames.
inline constexpr size_t kMaxFrameSize = 1 << 20;
/// DATA payloads senders cut their byte streams into.
inline constexpr size_t kMaxDataChunk = 32 * 1024;
inline constexpr size_t kMaxHeaders = 256;
inline constexpr size_t kMaxControlMessage = 16 << 20;

enum class FrameType : uint8_t {
  kHello = 0x01,
  kWelcome = 0x02,
  kGoAway = 0x03,
  kPing = 0x04,
  kPong = 0x05,
  kWindow = 0x06,
  kControl = 0x07,
  kOpen = 0x10,
  kResponse = 0x11,
  kData = 0x12,
  kReset = 0x13,
};

/// Flag bits.
inline constexpr uint8_t kFlagEnd = 0x01;   // OPEN/RESPONSE/DATA: sender's half of the stream ends
inline constexpr uint8_t kFlagMore = 0x02;  // CONTROL: message continues in the next frame
/// OPEN: the hub's own request (cache list/watch), run by the agent under its own identity.
/// Sent only to agents that offered kCapabilityInternalOpen (see PROTOCOL.md, "Identity").
inline constexpr uint8_t kFlagInternal = 0x04;

/// HELLO/WELCOME capability: the hub marks its own requests with kFlagInternal and every other
/// OPEN carries Impersonate-User, so an agent may refuse an unmarked request without one.
inline constexpr std::string_view kCapabilityInternalOpen = "internal-open.v1";
/// The hub refuses a second tunnel of one agent instance through another of its connections
/// (GOAWAY ALREADY_CONNECTED) instead of replacing the first: an agent may dial an address that
/// led to a hub it holds (a load balancer) again without knocking its own tunnel down.
inline constexpr std::string_view kCapabilityConnections = "connections.v1";
/// HELLO capability: the agent fronts a bare host (--mode native), not an API server. The hub
/// sends it no discovery request and answers Kubernetes paths for the cluster itself.
inline constexpr std::string_view kCapabilityHost = "host.v1";

enum class ResetCode : uint32_t {
  kCancel = 0,
  kProtocolError = 1,
  kFlowControlError = 2,
  kRefused = 3,
  kUpstreamUnavailable = 4,
  kTimeout = 5,
  kInternal = 6,
  kTunnelClosed = 7,
};

enum class GoAwayCode : uint32_t {
  kNormal = 0,
  kProtocolError = 1,
  kVersionMismatch = 2,
  kUnauthorized = 3,
  kReplaced = 4,
  kFlowControlError = 5,
  kDraining = 6,
  kPingTimeout = 7,
  /// The hub holds a tunnel of the same agent (HELLO instance) through another of its
  /// connections: reach another hub (e.g. through the load balancer again).
  kAlreadyConnected = 8,
};

std::string_view frameTypeName(FrameType type);
std::string_view resetCodeName(ResetCode code);

/// A decoded frame; `payload` points into the buffer passed to decodeFrame.
struct FrameView {
  FrameType type;
  uint8_t flags = 0;
  uint32_t stream = 0;
  std::string_view payload;
  /// Bytes the frame occupies (header + payload): where the next frame of the message starts.
  size_t size = 0;
};

/// Decodes the frame at the start of `bytes` (a message may hold several, back to back).
/// Validates the header and the payload's framing (not its typed contents). `max_frame` bounds
/// the whole frame.
absl::StatusOr<FrameView> decodeFrame(std::string_view bytes, size_t max_frame = kMaxFrameSize);
/// Decodes a message that must hold exactly one frame (the handshake frames).
absl::StatusOr<FrameView> decodeSingleFrame(std::string_view message,
                                            size_t max_frame = kMaxFrameSize);

/// Writes the 10-byte header followed by `payload`.
std::string encodeFrame(FrameType type, uint8_t flags, uint32_t stream, std::string_view payload);

using Headers = std::vector<std::pair<std::string, std::string>>;

/// OPEN payload: the HTTP request head the hub forwards.
struct RequestHead {
  std::string method;
  std::string target;
  Headers headers;
  /// Carried by the OPEN frame's kFlagInternal, not by the payload.
  bool internal = false;
  bool operator==(const RequestHead&) const = default;
};

/// RESPONSE payload: the HTTP response head the agent got from its API server.
struct ResponseHead {
  int status = 0;
  std::string reason;
  Headers headers;
  bool operator==(const ResponseHead&) const = default;
};

struct ResetInfo {
  ResetCode code = ResetCode::kCancel;
  std::string reason;
};

struct GoAwayInfo {
  GoAwayCode code = GoAwayCode::kNormal;
  std::string reason;
};

/// Heads that do not fit the wire format (more than kMaxHeaders headers, a name, value, method,
/// target or reason over 65,535 bytes) are refused with InvalidArgument, never truncated: a
/// dropped header could be the one that names the user to the edge.
absl::StatusOr<std::string> encodeRequestHead(const RequestHead& head);
absl::StatusOr<RequestHead> decodeRequestHead(std::string_view payload);
absl::StatusOr<std::string> encodeResponseHead(const ResponseHead& head);
absl::StatusOr<ResponseHead> decodeResponseHead(std::string_view payload);
std::string encodeWindow(uint32_t increment);
absl::StatusOr<uint32_t> decodeWindow(std::string_view payload);
std::string encodeReset(const ResetInfo& info);
absl::StatusOr<ResetInfo> decodeReset(std::string_view payload);
std::string encodeGoAway(const GoAwayInfo& info);
absl::StatusOr<GoAwayInfo> decodeGoAway(std::string_view payload);

/// True when a header name is an HTTP token and the value has no CR, LF or NUL.
bool isValidHeader(std::string_view name, std::string_view value);

}  // namespace kubehub::proto
