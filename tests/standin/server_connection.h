#pragma once
/// One accepted TLS connection, shared by the HTTP loop (server.cc) and the streams it hands the
/// connection to (exec_websocket.cc, spdy_session.cc, port_forward_websocket.cc). Only Beast
/// translation units include this header.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>
#include <string>

#include "tests/standin/api_server.h"

namespace kubehub::standin {

using SslStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

struct Connection {
  Connection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx)
      : stream(std::move(socket), ctx) {}
  SslStream stream;
  boost::beast::flat_buffer buffer;
};

/// In-process echo servers standing for what listens on pods' declared ports: one loopback
/// listener per pod and port, started on first use, stopped by close(). Thread-safe.
class EchoPorts {
 public:
  explicit EchoPorts(boost::asio::any_io_executor ex);
  ~EchoPorts();
  /// The address of the echo server for `key` ("namespace/pod:port").
  boost::system::error_code endpoint(const std::string& key, boost::asio::ip::tcp::endpoint* out);
  /// Stops every listener (before the io_context goes away).
  void close();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Serves `kubectl port-forward`: answers the SPDY/3.1 upgrade (or accepts the WebSocket that
/// tunnels SPDY) and forwards each requested connection to the pod's echo server, or reports on
/// the error stream that nothing listens there. Takes over the connection's stream.
boost::asio::awaitable<void> servePortForward(
    std::shared_ptr<Connection> conn,
    boost::beast::http::request<boost::beast::http::string_body> request, PortForwardPlan plan,
    std::shared_ptr<EchoPorts> echo);

/// Serves port-forward over the kubelet's own WebSocket protocol (v4.channel.k8s.io; the ports
/// from the query, a data and an error channel each): accepts the WebSocket, connects each port
/// to the pod's echo server or reports the refusal on its error channel, and closes once every
/// port's connection has ended. Takes over the connection's stream.
boost::asio::awaitable<void> servePortForwardChannels(
    std::shared_ptr<Connection> conn,
    boost::beast::http::request<boost::beast::http::string_body> request, PortForwardPlan plan,
    std::shared_ptr<EchoPorts> echo);

/// Exec or attach over SPDY/3.1 streams (remotecommand v4: error, stdin, stdout, stderr,
/// resize), as kubectl before 1.30 asks. Takes over the connection's stream.
boost::asio::awaitable<void> serveExecSpdy(
    std::shared_ptr<Connection> conn,
    boost::beast::http::request<boost::beast::http::string_body> request, ExecPlan plan);

/// Accepts the WebSocket upgrade of an exec request and runs the command over the
/// remotecommand channel protocol until it ends or the client goes away. Takes over the
/// connection's stream.
boost::asio::awaitable<void> serveExec(
    std::shared_ptr<Connection> conn,
    boost::beast::http::request<boost::beast::http::string_body> request, ExecPlan plan);

}  // namespace kubehub::standin
