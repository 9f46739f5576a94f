#include "common/net/listener.h"

namespace kubehub::net {

namespace asio = boost::asio;

absl::StatusOr<HostPort> openListener(asio::ip::tcp::acceptor& a, const HostPort& address) {
  boost::system::error_code ec;
  auto ip = asio::ip::make_address(address.host == "localhost" ? "127.0.0.1" : address.host, ec);
  if (ec) return absl::InvalidArgumentError("invalid listen address " + address.str());
  asio::ip::tcp::endpoint ep(ip, address.port);
  a.open(ep.protocol(), ec);
  if (!ec) a.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(ep, ec);
  if (!ec) a.listen(asio::socket_base::max_listen_connections, ec);
  if (!ec) a.non_blocking(true, ec);
  if (ec) return absl::UnavailableError("cannot listen on " + address.str() + ": " + ec.message());
  auto bound = a.local_endpoint(ec);
  if (ec) return absl::UnavailableError("cannot read the bound address of " + address.str());
  return HostPort{bound.address().to_string(), bound.port()};
}

int acceptQueued(asio::ip::tcp::acceptor& acceptor, int max, asio::ip::tcp::socket& spare,
                 const std::function<asio::ip::tcp::socket()>& make_socket,
                 const std::function<void(asio::ip::tcp::socket)>& on_socket) {
  int taken = 0;
  while (taken < max) {
    boost::system::error_code ec;
    acceptor.accept(spare, ec);  // would_block once the queue is empty; errors: the async loop
    if (ec) break;
    ++taken;
    asio::ip::tcp::socket socket = std::move(spare);
    spare = make_socket();
    on_socket(std::move(socket));
  }
  return taken;
}

}  // namespace kubehub::net
