#pragma once
/// One accepted TLS connection, shared by the HTTP loop (server.cc) and the exec WebSocket
/// (exec_websocket.cc). Only these two Beast translation units include this header.

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <memory>

#include "tests/standin/api_server.h"

namespace kubehub::standin {

using SslStream = boost::beast::ssl_stream<boost::beast::tcp_stream>;

struct Connection {
  Connection(boost::asio::ip::tcp::socket socket, boost::asio::ssl::context& ctx)
      : stream(std::move(socket), ctx) {}
  SslStream stream;
  boost::beast::flat_buffer buffer;
};

/// Accepts the WebSocket upgrade of an exec request and runs the command over the
/// remotecommand channel protocol until it ends or the client goes away. Takes over the
/// connection's stream.
boost::asio::awaitable<void> serveExec(
    std::shared_ptr<Connection> conn,
    boost::beast::http::request<boost::beast::http::string_body> request, ExecPlan plan);

}  // namespace kubehub::standin
