// Port-forward over the kubelet's own WebSocket protocol (v4.channel.k8s.io, as the Python
// client's `portforward` speaks it): the ports are named in the query, each gets one connection
// to the pod's echo server, a data channel and an error channel. Both channels of a port start
// with the port number; a port nothing listens on gets the kubelet's error on its error channel.
// Once every port's connection has ended the WebSocket is closed, as the kubelet does.
//
// One strand per connection: the read loop writes what the client sends into the echo sockets
// itself (a slow echo holds the client back the way TCP does in the kubelet), one coroutine per
// port copies the echo's bytes into messages, and one writer coroutine drains the outbox.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <vector>

#include "common/log/log.h"
#include "tests/standin/server_connection.h"

namespace kubehub::standin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kOutboxMessages = 64;

using Outbox = asio::experimental::channel<void(boost::system::error_code, std::string)>;

/// One port of the request: one connection to the pod's port for the life of the WebSocket.
struct ChannelForward {
  ChannelForward(const asio::any_io_executor& ex, size_t i, int p)
      : socket(ex), index(i), port(p) {}
  tcp::socket socket;
  size_t index;
  int port;
  bool connected = false;
  bool done = false;
  /// What the client sent before the connection was up.
  std::string pending;
};

struct ChannelSession {
  ChannelSession(SslStream stream, PortForwardPlan p, std::shared_ptr<EchoPorts> e,
                 const asio::any_io_executor& ex)
      : ws(std::move(stream)),
        plan(std::move(p)),
        codec(plan.channel_ports.size(), plan.base64),
        echo(std::move(e)),
        outbox(ex, kOutboxMessages) {}
  websocket::stream<SslStream> ws;
  PortForwardPlan plan;
  PortForwardChannels codec;
  std::shared_ptr<EchoPorts> echo;
  /// Whole messages; an empty one asks the writer to close the WebSocket.
  Outbox outbox;
  std::vector<std::shared_ptr<ChannelForward>> forwards;
  size_t running = 0;
  bool client_gone = false;

  asio::awaitable<bool> send(std::string message) {
    boost::system::error_code none;
    auto [ec] = co_await outbox.async_send(none, std::move(message), kUseAwaitable);
    co_return !ec;
  }
};

asio::awaitable<void> writeMessages(std::shared_ptr<ChannelSession> s) {
  while (true) {
    auto [ec, message] = co_await s->outbox.async_receive(kUseAwaitable);
    if (ec) break;
    if (message.empty()) {
      auto [cec] = co_await s->ws.async_close(websocket::close_code::normal, kUseAwaitable);
      (void)cec;
      break;
    }
    auto [wec, n] = co_await s->ws.async_write(asio::buffer(message), kUseAwaitable);
    if (wec) break;
  }
  s->outbox.close();
}

/// Dials the pod's port and copies what it says into data-channel messages until it ends or
/// the client leaves; a port nothing listens on gets the kubelet's error instead.
asio::awaitable<void> runChannelForward(std::shared_ptr<ChannelSession> s,
                                        std::shared_ptr<ChannelForward> f) {
  const size_t data_channel = PortForwardChannels::dataChannel(f->index);
  tcp::endpoint ep;
  bool refused =
      !s->plan.listensOn(f->port) ||
      s->echo->endpoint(s->plan.ns + "/" + s->plan.pod + ":" + std::to_string(f->port), &ep);
  if (!refused) {
    auto [cec] = co_await f->socket.async_connect(ep, kUseAwaitable);
    refused = static_cast<bool>(cec);
  }
  boost::system::error_code ignored;
  if (refused) {
    std::string error = s->codec.encode(PortForwardChannels::errorChannel(f->index),
                                        s->plan.connectionRefused(f->port));
    co_await s->send(std::move(error));
  } else {
    f->socket.set_option(tcp::no_delay(true), ignored);
    while (!f->pending.empty() && !f->done) {
      std::string chunk;
      chunk.swap(f->pending);
      auto [wec, wn] = co_await asio::async_write(f->socket, asio::buffer(chunk), kUseAwaitable);
      if (wec) break;
    }
    f->connected = true;
    std::vector<char> buf(kReadChunk);
    while (!f->done) {
      auto [rec, n] = co_await f->socket.async_read_some(asio::buffer(buf), kUseAwaitable);
      if (n > 0) {
        std::string message = s->codec.encode(data_channel, std::string_view(buf.data(), n));
        if (!co_await s->send(std::move(message))) break;
      }
      if (rec) break;
    }
  }
  f->done = true;
  f->socket.close(ignored);
  if (--s->running == 0 && !s->client_gone) {
    std::string close_now;
    co_await s->send(std::move(close_now));
  }
}

}  // namespace

asio::awaitable<void> servePortForwardChannels(std::shared_ptr<Connection> conn,
                                               http::request<http::string_body> request,
                                               PortForwardPlan plan,
                                               std::shared_ptr<EchoPorts> echo) {
  auto ex = conn->stream.get_executor();
  beast::get_lowest_layer(conn->stream).expires_never();  // the WebSocket keeps its own
  auto s = std::make_shared<ChannelSession>(std::move(conn->stream), std::move(plan),
                                            std::move(echo), ex);
  s->ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  const std::string protocol = s->plan.protocol;
  s->ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    if (!protocol.empty()) res.set(http::field::sec_websocket_protocol, protocol);
  }));
  s->ws.binary(!s->plan.base64);
  auto [ec] = co_await s->ws.async_accept(request, kUseAwaitable);
  if (ec) {
    log::debug("port-forward websocket handshake failed", {{"error", ec.message()}});
    co_return;
  }
  log::debug("port-forward started", {{"pod", s->plan.pod}, {"transport", "websocket-channels"}});
  for (size_t i = 0; i < s->plan.channel_ports.size(); ++i) {
    s->forwards.push_back(std::make_shared<ChannelForward>(ex, i, s->plan.channel_ports[i]));
  }
  asio::co_spawn(ex, writeMessages(s), asio::detached);
  // Every channel first says which port it is for, before any data or error.
  for (const auto& f : s->forwards) {
    for (size_t channel : {PortForwardChannels::dataChannel(f->index),
                           PortForwardChannels::errorChannel(f->index)}) {
      std::string prefix = s->codec.portPrefix(channel, f->port);
      if (!co_await s->send(std::move(prefix))) co_return;
    }
  }
  s->running = s->forwards.size();
  for (const auto& f : s->forwards) {
    asio::co_spawn(ex, runChannelForward(s, f), asio::detached);
  }
  beast::flat_buffer buffer;
  while (true) {
    buffer.clear();
    auto [rec, n] = co_await s->ws.async_read(buffer, kUseAwaitable);
    if (rec) break;  // the client left, or the close we started completed
    auto in = s->codec.decode(beast::buffers_to_string(buffer.data()));
    if (!in.has_value()) continue;
    ChannelForward& f = *s->forwards[in->port_index];
    if (f.done || in->data.empty()) continue;
    if (!f.connected) {
      f.pending += in->data;
      continue;
    }
    // A failed write ends the forward's read too; the client's later bytes are dropped.
    auto [wec, wn] = co_await asio::async_write(f.socket, asio::buffer(in->data), kUseAwaitable);
    (void)wec;
  }
  s->client_gone = true;
  for (const auto& f : s->forwards) {
    f->done = true;
    boost::system::error_code ignored;
    f->socket.close(ignored);
  }
  s->outbox.close();
}

}  // namespace kubehub::standin
