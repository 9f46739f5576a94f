// SPDY/3.1 sessions the kubelet would serve: port-forward (over the upgraded TLS connection,
// or tunnelled in WebSocket binary messages as kubectl >= 1.31 asks) and exec/attach for
// clients that speak SPDY (kubectl before 1.30). One strand per connection: a read loop that
// parses frames and acts on them, one writer coroutine fed by an outbox channel (frames whose
// headers share the session's zlib stream are queued in the order they were compressed), and
// for port-forward a coroutine per forwarded connection that copies the echo server's bytes
// into DATA frames. The client's bytes are written to the echo socket by the read loop itself,
// so a slow echo holds the session back the way TCP does in the kubelet.

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/channel.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <map>
#include <mutex>

#include "common/log/log.h"
#include "tests/standin/server_connection.h"
#include "tests/standin/spdy_codec.h"

namespace kubehub::standin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 64 * 1024;
constexpr size_t kWriteBatch = 256 * 1024;
constexpr size_t kOutboxFrames = 64;
constexpr auto kAfterExecGrace = std::chrono::seconds(10);

using Outbox = asio::experimental::channel<void(boost::system::error_code, std::string)>;

/// The bytes under the SPDY session: the upgraded TLS connection itself, or WebSocket binary
/// messages whose boundaries mean nothing.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Appends what arrived to `out`; false once the peer is gone.
  virtual asio::awaitable<bool> read(std::string& out) = 0;
  virtual asio::awaitable<bool> write(std::string bytes) = 0;
  /// Ends reads that have not completed within `d` (0: no deadline).
  virtual void readDeadline(std::chrono::seconds d) = 0;
  virtual asio::awaitable<void> close() = 0;
};

class RawTransport final : public Transport {
 public:
  explicit RawTransport(std::shared_ptr<Connection> conn) : conn_(std::move(conn)) {}

  asio::awaitable<bool> read(std::string& out) override {
    if (conn_->buffer.size() > 0) {  // bytes that came right behind the request head
      out += beast::buffers_to_string(conn_->buffer.data());
      conn_->buffer.consume(conn_->buffer.size());
      co_return true;
    }
    size_t at = out.size();
    out.resize(at + kReadChunk);
    auto [ec, n] = co_await conn_->stream.async_read_some(asio::buffer(out.data() + at, kReadChunk),
                                                          kUseAwaitable);
    out.resize(at + n);
    co_return !ec || n > 0;
  }
  asio::awaitable<bool> write(std::string bytes) override {
    auto [ec, n] = co_await asio::async_write(conn_->stream, asio::buffer(bytes), kUseAwaitable);
    co_return !ec;
  }
  void readDeadline(std::chrono::seconds d) override {
    if (d.count() > 0) {
      beast::get_lowest_layer(conn_->stream).expires_after(d);
    } else {
      beast::get_lowest_layer(conn_->stream).expires_never();
    }
  }
  asio::awaitable<void> close() override {
    beast::get_lowest_layer(conn_->stream).expires_after(std::chrono::seconds(2));
    auto [ec] = co_await conn_->stream.async_shutdown(kUseAwaitable);
    (void)ec;
    beast::get_lowest_layer(conn_->stream).close();
  }

 private:
  std::shared_ptr<Connection> conn_;
};

class WebSocketTransport final : public Transport {
 public:
  explicit WebSocketTransport(SslStream stream) : ws_(std::move(stream)) {}
  websocket::stream<SslStream>& ws() { return ws_; }

  asio::awaitable<bool> read(std::string& out) override {
    buffer_.clear();
    auto [ec, n] = co_await ws_.async_read(buffer_, kUseAwaitable);
    if (ec) co_return false;
    out += beast::buffers_to_string(buffer_.data());
    co_return true;
  }
  asio::awaitable<bool> write(std::string bytes) override {
    auto [ec, n] = co_await ws_.async_write(asio::buffer(bytes), kUseAwaitable);
    co_return !ec;
  }
  void readDeadline(std::chrono::seconds) override {}
  asio::awaitable<void> close() override {
    auto [ec] = co_await ws_.async_close(websocket::close_code::normal, kUseAwaitable);
    (void)ec;
  }

 private:
  websocket::stream<SslStream> ws_;
  beast::flat_buffer buffer_;
};

/// The parts of a session both protocols share.
struct SpdySession {
  SpdySession(asio::any_io_executor ex, std::unique_ptr<Transport> t)
      : transport(std::move(t)), outbox(ex, kOutboxFrames) {}
  std::unique_ptr<Transport> transport;
  spdy::FrameReader reader;
  spdy::FrameWriter writer;
  Outbox outbox;
  bool writer_done = false;

  asio::awaitable<bool> send(std::string frame) {
    boost::system::error_code none;
    auto [ec] = co_await outbox.async_send(none, std::move(frame), kUseAwaitable);
    co_return !ec;
  }
};

asio::awaitable<void> writeLoop(std::shared_ptr<SpdySession> s) {
  while (true) {
    auto [ec, bytes] = co_await s->outbox.async_receive(kUseAwaitable);
    if (ec) break;
    // Coalesce what is queued: fewer TLS records and WebSocket messages. (A named reference:
    // lambdas capture structured bindings only from C++20 compilers newer than clang 14.)
    std::string& batch = bytes;
    while (batch.size() < kWriteBatch &&
           s->outbox.try_receive(
               [&batch](boost::system::error_code, std::string more) { batch += more; })) {
    }
    if (!co_await s->transport->write(std::move(bytes))) break;
  }
  s->writer_done = true;
  s->outbox.close();
}

/// Writes the 101 (raw SPDY) or accepts the WebSocket; returns the transport or null.
asio::awaitable<std::unique_ptr<Transport>> upgrade(std::shared_ptr<Connection> conn,
                                                    http::request<http::string_body> request,
                                                    bool websocket, std::string protocol) {
  if (websocket) {
    beast::get_lowest_layer(conn->stream).expires_never();  // the WebSocket keeps its own
    auto t = std::make_unique<WebSocketTransport>(std::move(conn->stream));
    auto& ws = t->ws();
    ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
    ws.set_option(websocket::stream_base::decorator([protocol](websocket::response_type& res) {
      res.set(http::field::sec_websocket_protocol, protocol);
    }));
    ws.binary(true);
    auto [ec] = co_await ws.async_accept(request, kUseAwaitable);
    if (ec) {
      log::debug("websocket handshake failed", {{"error", ec.message()}});
      co_return nullptr;
    }
    co_return t;
  }
  std::string head =
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n"
      "X-Stream-Protocol-Version: " +
      protocol + "\r\n\r\n";
  beast::get_lowest_layer(conn->stream).expires_after(std::chrono::seconds(30));
  auto [ec, n] = co_await asio::async_write(conn->stream, asio::buffer(head), kUseAwaitable);
  if (ec) co_return nullptr;
  beast::get_lowest_layer(conn->stream).expires_never();
  co_return std::make_unique<RawTransport>(conn);
}

// ---- port-forward ----

struct Forward {
  explicit Forward(const asio::any_io_executor& ex) : socket(ex) {}
  StreamPairs::Pair ids;
  tcp::socket socket;
  bool connected = false;
  bool client_fin = false;
  bool gone = false;
  std::string pending;
};

struct PortForwardSession : SpdySession {
  using SpdySession::SpdySession;
  PortForwardPlan plan;
  std::shared_ptr<EchoPorts> echo;
  StreamPairs pairs;
  /// By data stream id.
  std::map<uint32_t, std::shared_ptr<Forward>> forwards;
};

asio::awaitable<void> endForward(std::shared_ptr<PortForwardSession> s, std::shared_ptr<Forward> f,
                                 std::string error) {
  if (!error.empty()) {
    std::string error_data = spdy::FrameWriter::data(f->ids.error, error, false);
    if (!co_await s->send(std::move(error_data))) co_return;
  }
  std::string data_fin = spdy::FrameWriter::data(f->ids.data, {}, true);
  if (!co_await s->send(std::move(data_fin))) co_return;
  std::string error_fin = spdy::FrameWriter::data(f->ids.error, {}, true);
  co_await s->send(std::move(error_fin));
  s->forwards.erase(f->ids.data);
}

/// One forwarded connection: dial the pod's port, then copy what it says into DATA frames.
asio::awaitable<void> runForward(std::shared_ptr<PortForwardSession> s,
                                 std::shared_ptr<Forward> f) {
  const int port = f->ids.port;
  tcp::endpoint ep;
  if (!s->plan.listensOn(port) ||
      s->echo->endpoint(s->plan.ns + "/" + s->plan.pod + ":" + std::to_string(port), &ep)) {
    std::string refused = s->plan.connectionRefused(port);
    co_await endForward(s, f, std::move(refused));
    co_return;
  }
  auto [cec] = co_await f->socket.async_connect(ep, kUseAwaitable);
  if (cec) {
    std::string refused = s->plan.connectionRefused(port);
    co_await endForward(s, f, std::move(refused));
    co_return;
  }
  f->socket.set_option(tcp::no_delay(true), cec);
  while (!f->pending.empty() && !f->gone) {
    std::string chunk;
    chunk.swap(f->pending);
    auto [wec, wn] = co_await asio::async_write(f->socket, asio::buffer(chunk), kUseAwaitable);
    if (wec) break;
  }
  f->connected = true;
  boost::system::error_code ignored;
  if (f->client_fin) f->socket.shutdown(tcp::socket::shutdown_send, ignored);
  while (!f->gone) {
    std::string frame = spdy::FrameWriter::dataHead(f->ids.data, 0, false);
    const size_t head = frame.size();
    frame.resize(head + kReadChunk);
    auto [rec, n] = co_await f->socket.async_read_some(
        asio::buffer(frame.data() + head, kReadChunk), kUseAwaitable);
    if (n == 0) break;
    frame.resize(head + n);
    std::string fixed = spdy::FrameWriter::dataHead(f->ids.data, n, false);
    frame.replace(0, head, fixed);
    if (!co_await s->send(std::move(frame))) co_return;
    if (rec) break;
  }
  f->socket.close(ignored);
  std::string no_error;
  co_await endForward(s, f, std::move(no_error));
}

asio::awaitable<void> onPortForwardFrame(std::shared_ptr<PortForwardSession> s, spdy::Frame frame) {
  if (!frame.control) {
    auto it = s->forwards.find(frame.stream_id);
    if (it == s->forwards.end()) co_return;  // the error stream, or a stream already ended
    std::shared_ptr<Forward> f = it->second;
    if (f->gone) co_return;
    if (!f->connected) {
      f->pending += frame.data;
      if (frame.flags & spdy::kFlagFin) f->client_fin = true;
      co_return;
    }
    boost::system::error_code ignored;
    if (!frame.data.empty()) {
      auto [ec, n] = co_await asio::async_write(f->socket, asio::buffer(frame.data), kUseAwaitable);
      if (ec) co_return;
    }
    if (frame.flags & spdy::kFlagFin) f->socket.shutdown(tcp::socket::shutdown_send, ignored);
    co_return;
  }
  switch (frame.type) {
    case spdy::kSynStream: {
      auto stream = parsePortForwardStream(frame.headers, frame.stream_id);
      if (!stream.ok()) {
        log::debug("port-forward stream refused", {{"error", stream.status().ToString()}});
        std::string refusal = spdy::FrameWriter::rstStream(frame.stream_id, spdy::kProtocolError);
        co_await s->send(std::move(refusal));
        co_return;
      }
      std::string reply = s->writer.synReply(frame.stream_id, {}, 0);
      if (!co_await s->send(std::move(reply))) co_return;
      auto pair = s->pairs.add(*stream, frame.stream_id);
      if (!pair.ok()) {
        std::string text = "error processing stream for request " + stream->request_id + ": " +
                           std::string(pair.status().message());
        std::string pair_error = spdy::FrameWriter::data(frame.stream_id, text, true);
        co_await s->send(std::move(pair_error));
        co_return;
      }
      if (!pair->has_value()) co_return;
      auto f = std::make_shared<Forward>(co_await asio::this_coro::executor);
      f->ids = **pair;
      s->forwards[f->ids.data] = f;
      asio::co_spawn(co_await asio::this_coro::executor, runForward(s, f), asio::detached);
      co_return;
    }
    case spdy::kRstStream: {
      auto it = s->forwards.find(frame.stream_id);
      if (it != s->forwards.end()) {
        it->second->gone = true;
        boost::system::error_code ignored;
        it->second->socket.close(ignored);
      }
      co_return;
    }
    case spdy::kPing: {
      std::string pong = spdy::FrameWriter::ping(frame.value);
      co_await s->send(std::move(pong));
      co_return;
    }
    default:
      co_return;  // SETTINGS, WINDOW_UPDATE (spdystream has no flow control), HEADERS
  }
}

/// Reads frames until the client leaves; false on a protocol error or GOAWAY.
template <typename OnFrame>
asio::awaitable<void> readFrames(std::shared_ptr<SpdySession> s, OnFrame on_frame) {
  std::string bytes;
  while (!s->writer_done) {
    bytes.clear();
    if (!co_await s->transport->read(bytes)) break;
    s->reader.feed(bytes);
    while (true) {
      auto frame = s->reader.next();
      if (!frame.ok()) {
        log::debug("spdy protocol error", {{"error", frame.status().ToString()}});
        co_return;
      }
      if (!frame->has_value()) break;
      if ((*frame)->control && (*frame)->type == spdy::kGoAway) co_return;
      if (!co_await on_frame(std::move(**frame))) co_return;
    }
  }
}

struct PortForwardFrames {
  std::shared_ptr<PortForwardSession> s;
  asio::awaitable<bool> operator()(spdy::Frame frame) const {
    co_await onPortForwardFrame(s, std::move(frame));
    co_return !s->writer_done;
  }
};

// ---- exec / attach ----

struct ExecSession : SpdySession {
  ExecSession(asio::any_io_executor ex, std::unique_ptr<Transport> t, const ExecRequest& req)
      : SpdySession(std::move(ex), std::move(t)), cmd(req), request(req) {}
  ExecCommand cmd;
  ExecRequest request;
  /// Stream ids by channel (ExecCommand::Channel); 0: not opened (yet).
  uint32_t ids[5] = {0, 0, 0, 0, 0};
  bool started = false;
};

bool allStreams(const ExecSession& s) {
  const ExecRequest& r = s.request;
  return s.ids[ExecCommand::kError] != 0 && (!r.use_stdin || s.ids[ExecCommand::kStdin] != 0) &&
         (!r.use_stdout || s.ids[ExecCommand::kStdout] != 0) &&
         (!r.use_stderr || s.ids[ExecCommand::kStderr] != 0) &&
         (!r.tty || s.ids[ExecCommand::kResize] != 0);
}

asio::awaitable<bool> sendExecOutput(std::shared_ptr<ExecSession> s, ExecCommand::Output out) {
  for (auto& [channel, data] : out.frames) {
    uint32_t id = channel >= 0 && channel < 5 ? s->ids[channel] : 0;
    if (id == 0) continue;
    std::string output = spdy::FrameWriter::data(id, data, false);
    if (!co_await s->send(std::move(output))) co_return false;
  }
  if (!out.status.has_value()) co_return true;
  std::string status =
      spdy::FrameWriter::data(s->ids[ExecCommand::kError], dumpJson(*out.status), false);
  if (!co_await s->send(std::move(status))) {
    co_return false;
  }
  for (int c : {ExecCommand::kStdout, ExecCommand::kStderr, ExecCommand::kError}) {
    if (s->ids[c] == 0) continue;
    std::string fin = spdy::FrameWriter::data(s->ids[c], {}, true);
    if (!co_await s->send(std::move(fin))) co_return false;
  }
  // The kubelet closes the connection once the process is gone; give the client a moment to
  // read and leave first.
  std::string go_away = spdy::FrameWriter::goAway(0, 0);
  if (!co_await s->send(std::move(go_away))) co_return false;
  s->transport->readDeadline(kAfterExecGrace);
  co_return true;
}

struct ExecFrames {
  std::shared_ptr<ExecSession> s;
  asio::awaitable<bool> operator()(spdy::Frame frame) const {
    if (!frame.control) {
      if (s->cmd.finished()) co_return true;
      if (frame.stream_id == s->ids[ExecCommand::kResize] && frame.stream_id != 0) {
        // A size may come before the last stream is up: the command starts knowing it (and
        // says nothing before it starts).
        ExecCommand::Output resized = s->cmd.onResize(frame.data);
        if (!s->started) co_return true;
        co_return co_await sendExecOutput(s, std::move(resized));
      }
      if (!s->started || frame.stream_id != s->ids[ExecCommand::kStdin]) co_return true;
      ExecCommand::Output out = s->cmd.onStdin(frame.data);
      if (!co_await sendExecOutput(s, std::move(out))) co_return false;
      if ((frame.flags & spdy::kFlagFin) && !s->cmd.finished()) {
        ExecCommand::Output last = s->cmd.onStdinClosed();
        if (!co_await sendExecOutput(s, std::move(last))) co_return false;
      }
      co_return true;
    }
    if (frame.type == spdy::kPing) {
      std::string pong = spdy::FrameWriter::ping(frame.value);
      co_return co_await s->send(std::move(pong));
    }
    if (frame.type != spdy::kSynStream) co_return true;
    static const std::pair<const char*, int> kTypes[] = {{"error", ExecCommand::kError},
                                                         {"stdin", ExecCommand::kStdin},
                                                         {"stdout", ExecCommand::kStdout},
                                                         {"stderr", ExecCommand::kStderr},
                                                         {"resize", ExecCommand::kResize}};
    std::string type = spdy::headerValue(frame.headers, "streamtype").value_or("");
    int channel = -1;
    for (const auto& [name, c] : kTypes) {
      if (type == name) channel = c;
    }
    if (channel < 0 || s->ids[channel] != 0) {
      std::string refusal = spdy::FrameWriter::rstStream(frame.stream_id, spdy::kProtocolError);
      co_return co_await s->send(std::move(refusal));
    }
    s->ids[channel] = frame.stream_id;
    std::string reply = s->writer.synReply(frame.stream_id, {}, 0);
    if (!co_await s->send(std::move(reply))) co_return false;
    if (s->started || !allStreams(*s)) co_return true;
    s->started = true;
    log::debug("exec started", {{"pod", s->request.pod}, {"transport", "spdy"}});
    ExecCommand::Output first = s->cmd.start();
    co_return co_await sendExecOutput(s, std::move(first));
  }
};

}  // namespace

// ---- echo servers ----

struct EchoPorts::Impl {
  std::mutex mu;
  asio::any_io_executor ex;
  std::map<std::string, std::unique_ptr<tcp::acceptor>> acceptors;
};

namespace {

asio::awaitable<void> echoConnection(tcp::socket socket) {
  std::vector<char> buf(kReadChunk);
  while (true) {
    auto [ec, n] = co_await socket.async_read_some(asio::buffer(buf), kUseAwaitable);
    if (n > 0) {
      auto [wec, wn] =
          co_await asio::async_write(socket, asio::buffer(buf.data(), n), kUseAwaitable);
      if (wec) break;
    }
    if (ec) break;
  }
  boost::system::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_send, ignored);
  socket.close(ignored);
}

asio::awaitable<void> echoAccept(tcp::acceptor* acceptor) {
  while (true) {
    auto [ec, socket] = co_await acceptor->async_accept(kUseAwaitable);
    if (ec) co_return;
    auto ex = socket.get_executor();
    asio::co_spawn(ex, echoConnection(std::move(socket)), asio::detached);
  }
}

}  // namespace

EchoPorts::EchoPorts(asio::any_io_executor ex) : impl_(std::make_unique<Impl>()) {
  impl_->ex = std::move(ex);
}
EchoPorts::~EchoPorts() = default;

boost::system::error_code EchoPorts::endpoint(const std::string& key, tcp::endpoint* out) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  auto it = impl_->acceptors.find(key);
  if (it == impl_->acceptors.end()) {
    auto acceptor = std::make_unique<tcp::acceptor>(asio::make_strand(impl_->ex));
    boost::system::error_code ec;
    tcp::endpoint ep(asio::ip::address_v4::loopback(), 0);
    acceptor->open(ep.protocol(), ec);
    if (!ec) acceptor->bind(ep, ec);
    if (!ec) acceptor->listen(asio::socket_base::max_listen_connections, ec);
    if (ec) return ec;
    tcp::acceptor* raw = acceptor.get();
    it = impl_->acceptors.emplace(key, std::move(acceptor)).first;
    asio::co_spawn(raw->get_executor(), echoAccept(raw), asio::detached);
  }
  *out = it->second->local_endpoint();
  return {};
}

void EchoPorts::close() {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->acceptors.clear();
}

// ---- entry points ----

asio::awaitable<void> servePortForward(std::shared_ptr<Connection> conn,
                                       http::request<http::string_body> request,
                                       PortForwardPlan plan, std::shared_ptr<EchoPorts> echo) {
  auto ex = conn->stream.get_executor();
  std::string protocol = plan.protocol;
  std::unique_ptr<Transport> t =
      co_await upgrade(conn, std::move(request), plan.websocket, std::move(protocol));
  if (!t) co_return;
  log::debug("port-forward started",
             {{"pod", plan.pod}, {"transport", plan.websocket ? "websocket" : "spdy"}});
  auto s = std::make_shared<PortForwardSession>(ex, std::move(t));
  s->plan = std::move(plan);
  s->echo = std::move(echo);
  asio::co_spawn(ex, writeLoop(s), asio::detached);
  PortForwardFrames on_frame{s};
  co_await readFrames(s, std::move(on_frame));
  for (auto& [id, f] : s->forwards) {
    f->gone = true;
    boost::system::error_code ignored;
    f->socket.close(ignored);
  }
  s->outbox.close();
  co_await s->transport->close();
}

asio::awaitable<void> serveExecSpdy(std::shared_ptr<Connection> conn,
                                    http::request<http::string_body> request, ExecPlan plan) {
  auto ex = conn->stream.get_executor();
  std::string protocol = plan.protocol;
  std::unique_ptr<Transport> t =
      co_await upgrade(conn, std::move(request), false, std::move(protocol));
  if (!t) co_return;
  auto s = std::make_shared<ExecSession>(ex, std::move(t), plan.request);
  asio::co_spawn(ex, writeLoop(s), asio::detached);
  ExecFrames on_frame{s};
  co_await readFrames(s, std::move(on_frame));
  s->outbox.close();
  co_await s->transport->close();
}

}  // namespace kubehub::standin
