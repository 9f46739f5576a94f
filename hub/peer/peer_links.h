#pragma once
/// The entry side of hub-to-hub links: one link per peer hub, dialed on first use (mTLS
/// WebSocket to the peer's /peer endpoint, its certificate checked to be that hub's), then
/// shared by every request routed there, each on a stream of its own (the tunnel's Mux: the
/// same frames and per-stream flow control as agent tunnels). A link that closes is dialed
/// again by the next request; a failed dial is not retried for a second, so a dead peer costs
/// requests one quick refusal, not a connect timeout each. Thread-safe.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/net/async_signal.h"
#include "common/net/server_main.h"
#include "common/net/task_group.h"
#include "common/net/tls_source.h"
#include "common/tunnel/mux.h"
#include "hub/peer/routing_table.h"

namespace kubehub::hub {

/// The Mux parameters of every peer link. Both ends use these (there is no handshake to agree
/// on others), so they are part of the protocol: see "Peer links" in proto/PROTOCOL.md.
tunnel::MuxOptions peerMuxOptions(bool opens_streams, std::string name);

struct PeerLinkOptions {
  std::chrono::milliseconds dial_timeout{3000};
  /// After a failed dial, requests for that peer fail at once for this long.
  std::chrono::milliseconds retry_after_failure{1000};
};

struct PeerLinkInfo {
  std::string hub;
  std::string url;
  bool up = false;
  size_t streams = 0;
  std::string last_error;
};

class PeerLinks : public std::enable_shared_from_this<PeerLinks> {
 public:
  /// `tls` is the client side of the hub's peer certificate; a link dialed after it rotates uses
  /// the new one, links up keep theirs.
  PeerLinks(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls, PeerLinkOptions options = {});

  /// The link to `hub` (its peer address must be set), dialing it if none is up. Waits at most
  /// the dial timeout; Unavailable (saying why) when the peer cannot be reached.
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<tunnel::Mux>>> link(HubRoute hub);
  std::vector<PeerLinkInfo> snapshot() const;
  /// Links up now.
  size_t up() const;
  /// Closes every link (the hub is stopping).
  void closeAll(std::string_view reason);
  /// After closeAll: whether every link has ended within `timeout` (for the hub's stop).
  boost::asio::awaitable<bool> waitClosed(std::chrono::milliseconds timeout) const;

 private:
  struct Entry {
    std::string url;
    std::shared_ptr<tunnel::Mux> mux;
    bool dialing = false;
    std::chrono::steady_clock::time_point failed_at{};
    std::string last_error;
    std::vector<std::shared_ptr<net::AsyncSignal>> waiters;
  };
  static boost::asio::awaitable<void> runLink(std::shared_ptr<PeerLinks> self, std::string hub,
                                              std::shared_ptr<tunnel::Mux> mux);
  boost::asio::awaitable<absl::StatusOr<std::shared_ptr<tunnel::Mux>>> dial(const HubRoute& hub);

  net::IoPool& pool_;
  std::shared_ptr<net::TlsSource> tls_;
  const PeerLinkOptions options_;
  mutable std::mutex mu_;
  std::map<std::string, Entry> links_;  // by hub id
  bool closed_ = false;
  /// Each link's run (runLink).
  net::TaskGroup tasks_{"peer links"};
};

}  // namespace kubehub::hub
