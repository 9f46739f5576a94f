// kubectl exec over WebSocket (remotecommand v5/v4 channel protocol): every binary message is
// one channel byte followed by data; 0 stdin, 1 stdout, 2 stderr, 3 the final Status, 4 resize,
// and in v5 255 "close this channel" (the client's stdin EOF).

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <chrono>

#include "common/log/log.h"
#include "tests/standin/server_connection.h"

namespace kubehub::standin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;

namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr unsigned char kCloseChannel = 255;
// A container runtime starts the process only after the kubelet has upgraded the connection, and
// starting one takes tens of milliseconds. The command's first output waits that long: sent at
// once, it can reach client-go's WebSocket executor (1.30 and later) before that has registered its
// streams (its read loop starts alongside stream creation), and is then dropped ("Unknown stream
// id 1, discarding message"), something no real runtime is fast enough to provoke.
constexpr auto kProcessStart = std::chrono::milliseconds(25);

using WsStream = websocket::stream<SslStream>;

// `out` by value and named at every call site: GCC 12 mishandles temporaries in co_await
// expressions.
asio::awaitable<bool> sendFrames(WsStream& ws, ExecCommand::Output out) {
  for (const auto& [channel, data] : out.frames) {
    std::string frame(1, static_cast<char>(channel));
    frame += data;
    auto [ec, n] = co_await ws.async_write(asio::buffer(frame), kUseAwaitable);
    if (ec) co_return false;
  }
  if (out.status.has_value()) {
    std::string frame(1, static_cast<char>(ExecCommand::kError));
    frame += dumpJson(*out.status);
    auto [ec, n] = co_await ws.async_write(asio::buffer(frame), kUseAwaitable);
    if (ec) co_return false;
  }
  co_return true;
}

}  // namespace

asio::awaitable<void> serveExec(std::shared_ptr<Connection> conn,
                                http::request<http::string_body> request, ExecPlan plan) {
  WsStream ws(std::move(conn->stream));
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  const std::string protocol = plan.protocol;
  ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
    res.set(http::field::sec_websocket_protocol, protocol);
  }));
  ws.binary(true);
  auto [ec] = co_await ws.async_accept(request, kUseAwaitable);
  if (ec) {
    log::debug("exec websocket handshake failed", {{"error", ec.message()}});
    co_return;
  }
  log::debug(
      "exec started",
      {{"pod", plan.request.pod}, {"container", plan.request.container}, {"protocol", protocol}});
  asio::steady_timer process_start(ws.get_executor(), kProcessStart);
  auto [tec] = co_await process_start.async_wait(kUseAwaitable);
  (void)tec;
  ExecCommand cmd(plan.request);
  ExecCommand::Output first = cmd.start();
  bool ok = co_await sendFrames(ws, std::move(first));
  beast::flat_buffer buffer;
  while (ok && !cmd.finished()) {
    buffer.clear();
    auto [rec, n] = co_await ws.async_read(buffer, kUseAwaitable);
    if (rec) co_return;  // the client went away: nothing left to tell it
    std::string msg = beast::buffers_to_string(buffer.data());
    if (msg.empty()) continue;
    unsigned char channel = static_cast<unsigned char>(msg[0]);
    if (channel == ExecCommand::kStdin) {
      ExecCommand::Output echoed = cmd.onStdin(std::string_view(msg).substr(1));
      ok = co_await sendFrames(ws, std::move(echoed));
    } else if (channel == ExecCommand::kResize) {
      ExecCommand::Output resized = cmd.onResize(std::string_view(msg).substr(1));
      ok = co_await sendFrames(ws, std::move(resized));
    } else if (channel == kCloseChannel && msg.size() >= 2 &&
               static_cast<unsigned char>(msg[1]) == ExecCommand::kStdin) {
      ExecCommand::Output last = cmd.onStdinClosed();
      ok = co_await sendFrames(ws, std::move(last));
    }
    // Anything else (closing the resize channel): nothing to do.
  }
  if (!ok) co_return;
  auto [cec] = co_await ws.async_close(websocket::close_code::normal, kUseAwaitable);
  (void)cec;
}

}  // namespace kubehub::standin
