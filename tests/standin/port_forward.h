#pragma once
/// `kubectl port-forward` as the kubelet serves it, without I/O: which ports a pod listens on
/// (its declared TCP containerPorts), the per-stream headers of the SPDY protocol
/// (portforward.k8s.io: one error and one data stream per forwarded connection, paired by
/// requestID), and the kubelet's (containerd's) words when nothing listens on a port. The
/// streams themselves are served by port_forward_session.cc. Pure.

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
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
  /// `101 Switching Protocols` to SPDY/3.1.
  bool websocket = false;
  /// The negotiated subprotocol, echoed in the 101.
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

}  // namespace kubehub::standin
