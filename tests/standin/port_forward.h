#pragma once
/// Port-forward as the kubelet serves it, without I/O: which ports a pod listens on (its
/// declared TCP containerPorts), the per-stream headers of the SPDY protocol
/// (portforward.k8s.io: one error and one data stream per forwarded connection, paired by
/// requestID), the channels of the kubelet's own WebSocket protocol (v4.channel.k8s.io: the
/// ports named in the query, a data and an error channel each), and the kubelet's
/// (containerd's) words when nothing listens on a port. The streams themselves are served by
/// spdy_session.cc and port_forward_websocket.cc. Pure.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "tests/standin/json_types.h"
#include "tests/standin/spdy_codec.h"

namespace kubehub::standin {

/// The SPDY subprotocol, and what kubectl ≥1.30 offers over WebSocket to tunnel it.
inline constexpr char kPortForwardProtocol[] = "portforward.k8s.io";
inline constexpr char kSpdyTunnelPrefix[] = "SPDY/3.1+";

struct PortForwardPlan {
  std::string ns;
  std::string pod;
  std::string uid;
  /// The TCP ports the pod's containers declare: an echo server listens on each.
  std::vector<int> ports;
  /// SPDY tunnelled in WebSocket binary messages (kubectl ≥1.31), else SPDY after a
  /// `101 Switching Protocols` to SPDY/3.1. False for the kubelet's WebSocket protocol.
  bool websocket = false;
  /// The kubelet's WebSocket protocol (`channels` true): the ports of the `ports` query
  /// parameter in order, port i on data channel 2i and error channel 2i+1.
  bool channels = false;
  std::vector<int> channel_ports;
  bool base64 = false;
  /// The negotiated subprotocol, echoed in the 101 (empty: none offered, none echoed).
  std::string protocol;
  /// Counts the session as open in /standin/stats while any copy of the plan lives.
  std::shared_ptr<const void> session;

  bool listensOn(int port) const;
  /// The containerd sandbox id the kubelet names the pod by (stable per pod uid).
  std::string sandboxId() const;
  /// The error-stream text for a port nothing listens on, as kubelet + containerd word it.
  std::string connectionRefused(int port) const;
};

/// The TCP containerPorts of a pod object.
std::vector<int> declaredPorts(const Json& pod);

/// One SPDY stream of a port-forward connection, from its SYN_STREAM headers.
struct PortForwardStream {
  int port = 0;
  bool error_stream = false;
  std::string request_id;
};

/// Checks a stream's headers like the kubelet (port, streamType; requestID, or one derived
/// from the stream id for clients that send none).
absl::StatusOr<PortForwardStream> parsePortForwardStream(const spdy::Headers& headers,
                                                         uint32_t stream_id);

/// Error and data streams waiting for their partner, by requestID.
class StreamPairs {
 public:
  struct Pair {
    uint32_t data = 0;
    uint32_t error = 0;
    int port = 0;
  };
  /// Adds a stream; the pair once both halves are there, nullopt while one is missing, or an
  /// error when the request already has a stream of that type.
  absl::StatusOr<std::optional<Pair>> add(const PortForwardStream& s, uint32_t stream_id);

 private:
  std::map<std::string, Pair> waiting_;
};

/// The WebSocket subprotocols the kubelet serves port-forward on, binary first.
inline constexpr char kChannelProtocol[] = "v4.channel.k8s.io";
inline constexpr char kBase64ChannelProtocol[] = "v4.base64.channel.k8s.io";

/// The `ports` query parameter of the WebSocket protocol as the kubelet reads it: repeated,
/// each a comma-separated list of ports in 1..65535; errors in the kubelet's words.
absl::StatusOr<std::vector<int>> parseChannelPorts(const std::vector<std::string>& values);

/// The first offered subprotocol the kubelet serves ("" when none is offered), or its
/// refusal when none is.
absl::StatusOr<std::string> chooseChannelProtocol(const std::vector<std::string>& offered);

/// The messages of the kubelet's WebSocket port-forward protocol (wsstream's v4 channels): a
/// channel byte and data, or in base64 mode the channel as an ASCII digit and the data in
/// standard base64.
class PortForwardChannels {
 public:
  PortForwardChannels(size_t ports, bool base64) : ports_(ports), base64_(base64) {}

  static size_t dataChannel(size_t port_index) { return 2 * port_index; }
  static size_t errorChannel(size_t port_index) { return 2 * port_index + 1; }

  /// One message carrying `data` on `channel`.
  std::string encode(size_t channel, std::string_view data) const;
  /// The first message on each of a port's channels: the port, 16 bits little-endian.
  std::string portPrefix(size_t channel, int port) const;

  struct Inbound {
    size_t port_index = 0;
    std::string data;
  };
  /// What a client's message brings to a port's data channel; nullopt for what the kubelet
  /// drops: empty messages, channels beyond the last, error channels (write-only), bad base64.
  std::optional<Inbound> decode(std::string_view message) const;

 private:
  size_t ports_;
  bool base64_;
};

}  // namespace kubehub::standin
