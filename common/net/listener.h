#pragma once
/// Opening a listening socket from a HOST:PORT flag, shared by every server (users' endpoint,
/// tunnel listener, admin and REST servers). Port 0 picks a free port; the bound address is
/// returned for the "listening" log line.

#include <boost/asio/ip/tcp.hpp>
#include <functional>

#include "absl/status/statusor.h"
#include "common/net/address.h"

namespace kubehub::net {

/// Opens, binds (SO_REUSEADDR) and listens (non-blocking, for acceptQueued). Errors name the
/// address and the reason.
absl::StatusOr<HostPort> openListener(boost::asio::ip::tcp::acceptor& acceptor,
                                      const HostPort& address);

/// Takes up to `max` more connections already waiting in the kernel's queue, without waiting,
/// each handed to `on_socket`. Called after each asynchronous accept: an accept loop on a busy
/// event loop otherwise takes one connection per pass of that loop, and in a reconnect storm the
/// kernel's queue overflows and drops SYNs (clients, users among them, then wait 1 + 2 + 4 s to
/// retry). Each connection is accepted into `spare`, which `make_socket` replaces only after a
/// connection was taken: a caller choosing each socket's context round robin (IoPool::next)
/// advances one step per connection, not one more for the try that found the queue empty
/// (with two contexts, that extra step put every connection arriving alone on the same one).
/// The caller's own asynchronous accept takes `spare` too. Returns how many it took.
int acceptQueued(boost::asio::ip::tcp::acceptor& acceptor, int max,
                 boost::asio::ip::tcp::socket& spare,
                 const std::function<boost::asio::ip::tcp::socket()>& make_socket,
                 const std::function<void(boost::asio::ip::tcp::socket)>& on_socket);

}  // namespace kubehub::net
