#pragma once
/// The stand-in's HTTPS server (Beast-free interface): accepts TLS connections, hands each
/// request to the ApiServer and writes its answer, streams watches and logs, upgrades exec to
/// WebSocket. Runs until SIGINT/SIGTERM.

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "common/net/address.h"
#include "tests/standin/api_server.h"

namespace kubehub::standin {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";
  std::string tls_cert;
  std::string tls_key;
  /// Optional: client certificates signed by this CA authenticate as their CN.
  std::string client_ca;
  int threads = 2;
  /// Stop on SIGINT/SIGTERM (the binary); in-process tests stop it through on_ready's handle.
  bool handle_signals = true;
  /// Called once bound, with the address and a thread-safe function that stops the server.
  std::function<void(const net::HostPort&, std::function<void()>)> on_ready;
};

/// Binds, logs `listening address=HOST:PORT`, serves until a signal (or until stopped through
/// on_ready's handle). Errors only at start.
absl::Status runServer(ApiServer& api, const ServerOptions& options);

}  // namespace kubehub::standin
