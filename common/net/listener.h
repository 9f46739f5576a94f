#pragma once
/// Opening a listening socket from a HOST:PORT flag, shared by every server (users' endpoint,
/// tunnel listener, admin and REST servers). Port 0 picks a free port; the bound address is
/// returned for the "listening" log line.

#include <boost/asio/ip/tcp.hpp>

#include "absl/status/statusor.h"
#include "common/net/address.h"

namespace kubehub::net {

/// Opens, binds (SO_REUSEADDR) and listens. Errors name the address and the reason.
absl::StatusOr<HostPort> openListener(boost::asio::ip::tcp::acceptor& acceptor,
                                      const HostPort& address);

}  // namespace kubehub::net
