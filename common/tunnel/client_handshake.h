#pragma once
/// The agent's side of the handshake (proto/PROTOCOL.md, "Handshake"): HELLO out, WELCOME (or
/// the hub's GOAWAY) back, and the Mux options WELCOME fixes. Shared by the agent's dialer and
/// the bench swarm's simulated agents. Runs on the transport's executor, before any Mux exists.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <optional>
#include <string>

#include "common/tunnel/mux.h"
#include "common/tunnel/transport.h"
#include "proto/frame.h"
#include "proto/handshake.h"

namespace kubehub::tunnel {

/// How the handshake ended: a WELCOME, or why not.
struct ClientHandshake {
  /// The hub's parameters for the tunnel, when it answered WELCOME.
  std::optional<proto::Welcome> welcome;
  /// The hub refused the agent with a GOAWAY it could read.
  std::optional<proto::GoAwayInfo> refusal;
  /// Why there is no WELCOME, in words for a log line; empty when there is one.
  std::string error;
};

/// Sends `hello` and waits at most `welcome_timeout` for the answer. The transport is left
/// without a read deadline; on failure the caller closes it.
boost::asio::awaitable<ClientHandshake> clientHandshake(Transport& transport, proto::Hello hello,
                                                        std::chrono::milliseconds welcome_timeout);

/// The agent side's Mux options for the parameters `welcome` fixed: the hub opens streams, the
/// tunnel is dead after three ping intervals of silence. `name` is the cluster, for logs.
MuxOptions agentMuxOptions(const proto::Welcome& welcome, std::string name);

}  // namespace kubehub::tunnel
