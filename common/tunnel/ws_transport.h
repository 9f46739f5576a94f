#pragma once
/// The WebSocket-over-mTLS Transport: the agent's dialer and the hub's tunnel listener.
/// Beast stays inside ws_transport.cc.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/auth/tunnel_identity.h"
#include "common/net/address.h"
#include "common/net/server_main.h"
#include "common/net/tls_source.h"
#include "common/tunnel/transport.h"

namespace kubehub::tunnel {

/// The WebSocket subprotocol naming the tunnel protocol version (see PROTOCOL.md).
inline constexpr const char* kTunnelSubprotocol = "kubehub.tunnel.v1";
inline constexpr const char* kTunnelPath = "/tunnel";
/// Hub-to-hub links speak the same frames under their own subprotocol and path.
inline constexpr const char* kPeerSubprotocol = "kubehub.peer.v1";
inline constexpr const char* kPeerPath = "/peer";

/// Which WebSocket endpoint a listener serves or a dialer asks for.
struct Endpoint {
  const char* path = kTunnelPath;
  const char* subprotocol = kTunnelSubprotocol;
  /// Who connects, for log lines: "agent" or "peer hub".
  const char* who = "agent";
};
inline constexpr Endpoint kPeerEndpoint{kPeerPath, kPeerSubprotocol, "peer hub"};

/// Agent side: TCP connect, TLS handshake (verifying the hub's name), WebSocket upgrade. When
/// `hub_certificate` is given it receives the identity of the hub's verified certificate.
boost::asio::awaitable<absl::StatusOr<std::unique_ptr<Transport>>> dialTunnel(
    boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
    net::Url url, std::chrono::milliseconds timeout,
    auth::CertificateIdentity* hub_certificate = nullptr);

/// Hub side: a link to the peer hub `hub_id` at `url` (wss://HOST:PORT/peer). The peer's
/// certificate must chain to the context's CA and be a hub certificate (O=kubehub:hubs) for
/// `hub_id`: the registry's address is not trusted to name the hub, its certificate is.
boost::asio::awaitable<absl::StatusOr<std::unique_ptr<Transport>>> dialPeer(
    boost::asio::any_io_executor executor, std::shared_ptr<boost::asio::ssl::context> tls,
    net::Url url, std::string hub_id, std::chrono::milliseconds timeout);

/// Who dialed in, from the verified client certificate.
struct TunnelPeer {
  std::string common_name;
  std::string address;
  /// What the certificate may speak for; the hub accepts only an agent's (auth::agentClusterOf).
  auth::CertificateIdentity certificate;
};

/// Hub side: accepts agents' connections. Each connection gets its own strand; the handler
/// runs on it once TLS (client certificate verified against the context's CA) and the WebSocket
/// upgrade have succeeded.
class TunnelListener {
 public:
  using Handler = std::function<void(std::unique_ptr<Transport>, TunnelPeer)>;

  /// Connections are spread over `pool`'s contexts; the acceptor lives on its main one.
  TunnelListener(net::IoPool& pool, std::shared_ptr<boost::asio::ssl::context> tls, Handler handler,
                 std::chrono::milliseconds handshake_timeout, Endpoint endpoint = {});
  /// The same with TLS material that may rotate: each connection takes the context in force
  /// when it is accepted.
  TunnelListener(net::IoPool& pool, std::shared_ptr<net::TlsSource> tls, Handler handler,
                 std::chrono::milliseconds handshake_timeout, Endpoint endpoint = {});
  ~TunnelListener();

  /// Binds and starts accepting; returns the bound address.
  absl::StatusOr<net::HostPort> start(const net::HostPort& address);
  void stop();
  /// Connections in the TLS handshake or upgrade that have sent something (see kMaxHandshakes).
  int handshakesInProgress() const;

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace kubehub::tunnel
