#include "agent/forward/upstream_client.h"

#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cerrno>
#include <deque>
#include <optional>

#include "agent/forward/admission.h"
#include "common/k8s/request_info.h"
#include "common/k8s/status_body.h"
#include "common/log/log.h"
#include "common/net/http_headers.h"
#include "common/net/tls_stream.h"
#include "common/tunnel/body_pump.h"

namespace kubehub::agent {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
/// Body bytes gathered per tunnel write: a connection starts small (watches, which most
/// long-lived connections are, never fill it) and grows once a response fills it (bulk streams:
/// bigger writes, +40% log throughput through the tunnel).
constexpr size_t kChunkStart = 16 * 1024;
constexpr size_t kChunkMax = 128 * 1024;
/// A pooled connection's parse buffer beyond this is freed when it goes idle.
constexpr size_t kIdleParseBytes = 16 * 1024;
constexpr size_t kMaxSimpleBody = 32 << 20;

struct Conn {
  Conn(const asio::any_io_executor& ex, asio::ssl::context& ctx) : stream(ex, ctx) {}
  /// TlsStream rather than Asio's SSL stream: reads take everything the socket has (hundreds of
  /// KiB in one syscall during a log stream) and an idle pooled connection holds no records.
  net::TlsStream stream;
  beast::flat_buffer buffer;
  bool reused = false;
  /// When it went back to the pool.
  std::chrono::steady_clock::time_point idle_since{};
  /// Body bytes on their way to the tunnel; allocated on first use, kept for the connection's
  /// next requests (left uninitialised: zeroing it per request showed up in profiles).
  tunnel::ChunkBuffer chunk{kChunkStart, kChunkMax};
};

using ConnPtr = std::unique_ptr<Conn>;

/// Answers the hub with a Kubernetes Status when the API server could not be asked.
asio::awaitable<void> respondError(std::shared_ptr<tunnel::Stream> stream, int code,
                                   std::string_view message) {
  std::string body = k8s::statusBody(code, message);
  proto::ResponseHead head;
  head.status = code;
  head.headers.emplace_back("Content-Type", "application/json");
  head.headers.emplace_back("Content-Length", std::to_string(body.size()));
  stream->sendResponseHead(head, false);
  absl::Status st = co_await stream->write(body);
  if (st.ok()) stream->finish();
}

void closeConn(Conn& c) {
  boost::system::error_code ec;
  beast::get_lowest_layer(c.stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  beast::get_lowest_layer(c.stream).close();
}

bool isUpgradeRequest(const proto::RequestHead& head) { return net::isUpgrade(head.headers); }

/// The `subresource` label of an upgraded stream (one of AgentMetrics::kUpgradeKinds).
std::string_view upgradeKind(std::string_view target) {
  std::string_view path = target.substr(0, target.find('?'));
  for (std::string_view kind : {"exec", "attach", "portforward"}) {
    if (path.size() > kind.size() && path.ends_with(kind) &&
        path[path.size() - kind.size() - 1] == '/') {
      return kind;
    }
  }
  if (path.find("/proxy") != std::string_view::npos) return "proxy";
  return "other";
}

/// Counts an upgraded stream in the agent's gauge for as long as it lives, however the
/// coroutine carrying it ends (finished, reset, or destroyed with the tunnel).
class UpgradeGauge {
 public:
  UpgradeGauge(AgentMetrics* metrics, std::string_view kind) : metrics_(metrics), kind_(kind) {
    if (metrics_ != nullptr) metrics_->upgradeOpened(kind_);
  }
  ~UpgradeGauge() {
    if (metrics_ != nullptr) metrics_->upgradeClosed(kind_);
  }
  UpgradeGauge(const UpgradeGauge&) = delete;
  UpgradeGauge& operator=(const UpgradeGauge&) = delete;

 private:
  AgentMetrics* metrics_;
  std::string_view kind_;
};

}  // namespace

struct UpstreamClient::Impl {
  Impl(asio::any_io_executor e, KubeTarget t, UpstreamOptions o,
       std::shared_ptr<asio::ssl::context> c)
      : ex(std::move(e)),
        target(std::move(t)),
        options(o),
        tls(std::move(c)),
        tokens(target),
        prune_timer(ex) {
    host_header = target.server.host.find(':') != std::string::npos ? "[" + target.server.host + "]"
                                                                    : target.server.host;
    if (target.server.port != 443) host_header += ":" + std::to_string(target.server.port);
  }

  asio::any_io_executor ex;
  KubeTarget target;
  UpstreamOptions options;
  std::shared_ptr<asio::ssl::context> tls;
  TokenSource tokens;
  std::deque<ConnPtr> idle;
  std::string host_header;
  /// Closes idle connections when their time is up even if no request comes (an agent whose
  /// users went quiet holds no API server connections, nor their TLS state, for long).
  asio::steady_timer prune_timer;
  bool prune_armed = false;
};

namespace {

asio::awaitable<absl::StatusOr<ConnPtr>> connect(UpstreamClient::Impl* impl) {
  const KubeTarget& t = impl->target;
  std::string where = t.server.host + ":" + std::to_string(t.server.port);
  tcp::resolver resolver(impl->ex);
  auto [rec, results] =
      co_await resolver.async_resolve(t.server.host, std::to_string(t.server.port), kUseTuple);
  if (rec) co_return absl::UnavailableError("resolve " + where + ": " + rec.message());
  auto conn = std::make_unique<Conn>(impl->ex, *impl->tls);
  auto& lowest = beast::get_lowest_layer(conn->stream);
  lowest.expires_after(impl->options.connect_timeout);
  auto [cec, ep] = co_await lowest.async_connect(results, kUseTuple);
  if (cec) co_return absl::UnavailableError("connect " + where + ": " + cec.message());
  boost::system::error_code ignored;
  lowest.socket().set_option(tcp::no_delay(true), ignored);
  if (!conn->stream.setServerName(t.server_name)) {
    co_return absl::InternalError("cannot set TLS server name");
  }
  if (!t.tls.insecure_skip_verify && !conn->stream.verifyHostName(t.server_name)) {
    co_return absl::InternalError("cannot set the TLS host name to verify");
  }
  auto [hec] = co_await conn->stream.async_handshake(asio::ssl::stream_base::client, kUseTuple);
  if (hec) {
    std::string detail = hec.message();
    long verify = SSL_get_verify_result(conn->stream.native_handle());
    if (verify != X509_V_OK)
      detail += std::string(" (") + X509_verify_cert_error_string(verify) + ")";
    co_return absl::UnavailableError("TLS handshake with " + where + ": " + detail);
  }
  lowest.expires_never();
  if (impl->options.metrics) impl->options.metrics->upstreamConnectionOpened();
  co_return conn;
}

/// Closes the pooled connections idle for longer than the timeout (the oldest are in front).
void pruneIdle(UpstreamClient::Impl* impl, std::chrono::steady_clock::time_point now) {
  while (!impl->idle.empty() &&
         now - impl->idle.front()->idle_since >= impl->options.idle_connection_timeout) {
    impl->idle.pop_front();
  }
}

void countIdle(UpstreamClient::Impl* impl) {
  if (impl->options.metrics) impl->options.metrics->upstreamIdleConnections(impl->idle.size());
}

/// Arms the prune timer for the oldest idle connection's deadline, unless it is armed or the
/// pool is empty. The timer belongs to `impl`: destroying it completes the wait with
/// operation_aborted, and the handler then touches nothing.
void armPrune(UpstreamClient::Impl* impl) {
  if (impl->prune_armed || impl->idle.empty()) return;
  impl->prune_armed = true;
  impl->prune_timer.expires_at(impl->idle.front()->idle_since +
                               impl->options.idle_connection_timeout);
  impl->prune_timer.async_wait([impl](const boost::system::error_code& ec) {
    if (ec == asio::error::operation_aborted) return;
    impl->prune_armed = false;
    pruneIdle(impl, std::chrono::steady_clock::now());
    countIdle(impl);
    armPrune(impl);
  });
}

/// Whether a pooled connection can carry a request: open, and the server has neither closed it
/// (as servers do with idle or finished connections) nor sent anything unasked (an early close
/// notice, a timeout answer). One non-blocking peek.
bool stillUsable(Conn& c) {
  auto& socket = beast::get_lowest_layer(c.stream).socket();
  if (!socket.is_open() || c.stream.bufferedInputBytes() > 0) return false;
  char byte = 0;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

/// A pooled connection (the most recently used that is still usable), or a new one; only a new
/// one when `fresh` (a retry after a pooled one failed).
asio::awaitable<absl::StatusOr<ConnPtr>> acquire(UpstreamClient::Impl* impl, bool fresh) {
  pruneIdle(impl, std::chrono::steady_clock::now());
  while (!fresh && !impl->idle.empty()) {
    ConnPtr c = std::move(impl->idle.back());
    impl->idle.pop_back();
    if (stillUsable(*c)) {
      c->reused = true;
      countIdle(impl);
      co_return c;
    }
  }
  countIdle(impl);
  co_return co_await connect(impl);
}

void release(UpstreamClient::Impl* impl, ConnPtr c) {
  auto now = std::chrono::steady_clock::now();
  pruneIdle(impl, now);
  if (impl->options.max_idle_connections == 0) return;
  // Full: the longest idle goes, this one (warm) stays.
  if (impl->idle.size() >= impl->options.max_idle_connections) impl->idle.pop_front();
  // Up to 256 idle connections: none keeps the room a large body grew (up to 64 KiB of parse
  // buffer and 128 KiB of body buffer each).
  c->buffer.clear();
  if (c->buffer.capacity() > kIdleParseBytes) c->buffer.shrink_to_fit();
  c->chunk.trim();
  c->idle_since = now;
  impl->idle.push_back(std::move(c));
  countIdle(impl);
  armPrune(impl);
}

std::string requestText(UpstreamClient::Impl* impl, const proto::RequestHead& head, bool has_body,
                        bool* chunked) {
  std::string text;
  text.reserve(512);
  text += head.method;
  text += ' ';
  text += head.target;
  text += " HTTP/1.1\r\nHost: ";
  text += impl->host_header;
  text += "\r\n";
  std::string token = impl->tokens.token();
  if (!token.empty()) text += "Authorization: Bearer " + token + "\r\n";
  bool has_length = false;
  for (const auto& [k, v] : head.headers) {
    if (net::iequals(k, "Authorization") || net::iequals(k, "Host")) continue;
    if (net::iequals(k, "Content-Length")) has_length = true;
    text += k;
    text += ": ";
    text += v;
    text += "\r\n";
  }
  *chunked = has_body && !has_length;
  if (*chunked) text += "Transfer-Encoding: chunked\r\n";
  if (!has_body && !has_length &&
      (head.method == "POST" || head.method == "PUT" || head.method == "PATCH")) {
    text += "Content-Length: 0\r\n";
  }
  text += "\r\n";
  return text;
}

asio::awaitable<bool> writeUpstream(UpstreamClient::Impl* impl, Conn* c, std::string_view text,
                                    std::string_view body = {}) {
  co_return co_await tunnel::writeAll(&c->stream, impl->options.write_timeout,
                                      asio::buffer(text.data(), text.size()),
                                      asio::buffer(body.data(), body.size()));
}

/// The request's Content-Length, when it has exactly one that is a number.
std::optional<uint64_t> contentLength(const proto::RequestHead& head) {
  std::optional<uint64_t> length;
  for (const auto& [k, v] : head.headers) {
    if (!net::iequals(k, "Content-Length")) continue;
    uint64_t n = 0;
    if (length || v.empty() || v.size() > 18 ||
        !std::all_of(v.begin(), v.end(), [](char ch) { return ch >= '0' && ch <= '9'; })) {
      return std::nullopt;
    }
    for (char ch : v) n = n * 10 + static_cast<uint64_t>(ch - '0');
    length = n;
  }
  return length;
}

/// Request body: tunnel -> API server. A failed write does not reset the stream: the API server
/// may have answered early (a refusal) and closed, and that answer is still on its way.
asio::awaitable<bool> uploadBody(UpstreamClient::Impl* impl, Conn* c,
                                 std::shared_ptr<tunnel::Stream> stream, bool chunked) {
  tunnel::PumpOut out;
  out.chunked = chunked;
  out.timeout = impl->options.write_timeout;
  out.peer = "API server";
  out.reset_on_write_error = false;
  co_return co_await tunnel::streamToSocket(&c->stream, stream, out);
}

/// After a 101: raw bytes API server -> tunnel; the API server's close half-closes the stream.
asio::awaitable<void> upstreamToTunnel(Conn* c, std::shared_ptr<tunnel::Stream> stream) {
  auto ec = co_await tunnel::socketToStream(&c->stream, &c->buffer, stream, &c->chunk);
  if (ec) stream->finish();
  closeConn(*c);
}

/// After a 101: raw bytes tunnel -> API server. The client's end is passed on as nothing more to
/// send: the server's side may go on.
asio::awaitable<void> tunnelToUpstream(UpstreamClient::Impl* impl, Conn* c,
                                       std::shared_ptr<tunnel::Stream> stream) {
  tunnel::PumpOut out;
  out.timeout = impl->options.write_timeout;
  out.peer = "API server";
  out.reset_on_write_error = false;
  if (!co_await tunnel::streamToSocket(&c->stream, stream, out)) closeConn(*c);
}

/// Whether the API server may leave this request's response body quiet for any time.
bool quietBodyAllowed(std::string_view method, std::string_view target) {
  size_t q = target.find('?');
  std::string_view path = target.substr(0, q);
  std::string_view query = q == std::string_view::npos ? std::string_view() : target.substr(q + 1);
  return k8s::isLongRunning(k8s::parseRequestInfo(method, path, query));
}

/// Response: API server -> tunnel. Returns true when the connection can be reused.
asio::awaitable<bool> download(UpstreamClient::Impl* impl, Conn* c,
                               std::shared_ptr<tunnel::Stream> stream, std::string method,
                               std::string target, bool* head_sent) {
  using Parser = http::response_parser<http::buffer_body>;
  std::optional<Parser> parser;
  auto& lowest = beast::get_lowest_layer(c->stream);
  lowest.expires_after(impl->options.response_timeout);
  auto sent_at = std::chrono::steady_clock::now();
  boost::system::error_code ec;
  for (;;) {
    parser.emplace();
    parser->header_limit(64 * 1024);
    parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == "HEAD") parser->skip(true);
    auto [rec, n] = co_await http::async_read_header(c->stream, c->buffer, *parser, kUseTuple);
    ec = rec;
    unsigned code = ec ? 0 : parser->get().result_int();
    // Interim 1xx answers (100 Continue, 103 Early Hints) are not the response: read past them.
    if (ec || code < 100 || code >= 200 || code == 101) break;
  }
  lowest.expires_never();
  if (impl->options.metrics) {
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - sent_at).count();
    impl->options.metrics->upstreamRequest(ec ? 0 : static_cast<int>(parser->get().result_int()),
                                           seconds);
  }
  if (ec) {
    *head_sent = false;
    co_return false;
  }
  auto& res = parser->get();
  proto::ResponseHead head;
  head.status = static_cast<int>(res.result_int());
  head.reason = std::string(res.reason());
  net::HeaderList raw;
  for (const auto& f : res) raw.emplace_back(std::string(f.name_string()), std::string(f.value()));
  head.headers = net::forwardableResponseHeaders(raw, head.status);
  bool upgraded = head.status == 101;
  bool no_body = !upgraded && parser->is_done();
  // When body bytes have already arrived with the head (most small answers), the head waits for
  // the first of them so that both, and the end, cross the tunnel in one message: one write and
  // one wake-up at the hub instead of two. Only for a body framed by Content-Length: bytes after a
  // chunked head may be no more than a chunk's size line, and a watch's next event may be minutes
  // away. The head never waits on a read either (see the loop).
  std::optional<proto::ResponseHead> held_head;
  if (!upgraded && !no_body && !parser->chunked() && parser->content_length() &&
      tunnel::moreReadable(c->stream, c->buffer)) {
    held_head = std::move(head);
  } else {
    stream->sendResponseHead(head, no_body);
  }
  *head_sent = true;  // committed: a failure from here on resets the stream, never retries
  if (upgraded) {
    UpgradeGauge gauge(impl->options.metrics.get(), upgradeKind(target));
    co_await (upstreamToTunnel(c, stream) && tunnelToUpstream(impl, c, stream));
    co_return false;
  }
  if (no_body) co_return parser->keep_alive();
  tunnel::PumpIn in;
  in.reset_code = proto::ResetCode::kUpstreamUnavailable;
  in.what = "API server response";
  // A watch, a log or a proxied stream may be quiet for hours; any other body that stops for as
  // long as a response head may take comes from a server that is gone (one that vanished
  // without a reset, behind a failed-over address): the stream is reset, never left hanging
  // with the user's request and its quota lease.
  if (!quietBodyAllowed(method, target)) in.timeout = impl->options.response_timeout;
  if (held_head) {
    in.send_head = [stream, held = std::move(*held_head)] {
      stream->sendResponseHead(held, false);
    };
  }
  if (!co_await tunnel::parsedBodyToStream(&c->stream, &c->buffer, &*parser, stream, &c->chunk,
                                           std::move(in))) {
    co_return false;
  }
  co_return parser->keep_alive();
}

asio::awaitable<void> forwardInner(std::shared_ptr<UpstreamClient> self, UpstreamClient::Impl* impl,
                                   std::shared_ptr<tunnel::Stream> stream,
                                   proto::RequestHead head) {
  // From the OPEN, not from what has arrived since: a body may have come in the same message.
  bool has_body = !stream->openEnded();
  bool upgrade = isUpgradeRequest(head);
  for (int attempt = 0; attempt < 2; ++attempt) {
    // The retry (a pooled connection the server had closed after all) on a new connection:
    // another pooled one may have been closed with it (a server closes idle ones together).
    auto acquired = co_await acquire(impl, attempt > 0);
    if (!acquired.ok()) {
      log::warn("cannot reach the API server", {{"error", acquired.status().message()}});
      std::string text_0 = "the kubehub agent cannot reach its API server: " +
                           std::string(acquired.status().message());
      co_await respondError(stream, 503, text_0);
      co_return;
    }
    ConnPtr conn = std::move(*acquired);
    bool chunked = false;
    std::string text = requestText(impl, head, has_body && !upgrade, &chunked);
    // A body that came whole with the OPEN (a create's or an update's JSON: the hub sends them in
    // one message) goes with the head in one write, as a client would send it: the API server
    // reads one request instead of a head and, a wake-up later, its body.
    std::optional<std::string> whole_body;
    if (has_body && !upgrade && !chunked && stream->peerEnded()) {
      auto length = contentLength(head);
      auto c = co_await stream->read();
      if (!c.ok()) co_return;  // reset: nobody waits for an answer
      if (!length || *length != c->data.size()) {
        co_await respondError(stream, 400,
                              "the request body's length differs from its Content-Length");
        co_return;
      }
      stream->consumed(c->data.size());
      whole_body = std::move(c->data);
    }
    std::string_view body_now = whole_body ? std::string_view(*whole_body) : std::string_view();
    if (!co_await writeUpstream(impl, conn.get(), text, body_now)) {
      // A pooled connection the server had closed: retry once on a fresh one if nothing of the
      // request's body was consumed yet.
      if (conn->reused && !has_body) continue;
      co_await respondError(stream, 502, "the edge API server closed the connection");
      co_return;
    }
    bool head_sent = false;
    bool reusable = false;
    if (has_body && !upgrade && !whole_body) {
      auto [uploaded, keep] =
          co_await (uploadBody(impl, conn.get(), stream, chunked) &&
                    download(impl, conn.get(), stream, head.method, head.target, &head_sent));
      reusable = uploaded && keep;
    } else {
      reusable = co_await download(impl, conn.get(), stream, head.method, head.target, &head_sent);
    }
    if (!head_sent) {
      if (conn->reused && !has_body && attempt == 0) continue;
      co_await respondError(stream, 502, "the edge API server did not answer");
      co_return;
    }
    if (reusable) release(impl, std::move(conn));
    co_return;
  }
  (void)self;
}

}  // namespace

absl::StatusOr<std::shared_ptr<UpstreamClient>> UpstreamClient::create(asio::any_io_executor ex,
                                                                       KubeTarget target,
                                                                       UpstreamOptions options) {
  auto ctx = net::makeClientContext(target.tls);
  if (!ctx.ok()) return ctx.status();
  auto impl = std::make_unique<Impl>(std::move(ex), std::move(target), options, *ctx);
  return std::shared_ptr<UpstreamClient>(new UpstreamClient(std::move(impl)));
}

UpstreamClient::UpstreamClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UpstreamClient::~UpstreamClient() = default;

const KubeTarget& UpstreamClient::target() const { return impl_->target; }

asio::awaitable<void> UpstreamClient::forward(std::shared_ptr<UpstreamClient> self,
                                              std::shared_ptr<tunnel::Stream> stream,
                                              proto::RequestHead head, bool hub_marks_internal) {
  Impl* impl = self->impl_.get();
  if (auto admitted = admitForwardedRequest(head, hub_marks_internal); !admitted.ok()) {
    log::warn("refused a forwarded request",
              {{"method", head.method},
               {"path", head.target.substr(0, head.target.find('?'))},
               {"reason", admitted.message()}});
    if (impl->options.metrics) impl->options.metrics->upstreamRequest(403, 0);
    co_await respondError(stream, 403, std::string(admitted.message()));
    co_return;
  }
  if (impl->options.metrics) impl->options.metrics->streamOpened();
  co_await (forwardInner(self, impl, stream, std::move(head)) || stream->waitReset());
  if (!stream->isReset()) stream->reset(proto::ResetCode::kCancel, "exchange finished");
  if (impl->options.metrics) impl->options.metrics->streamClosed();
}

asio::awaitable<absl::StatusOr<SimpleResponse>> UpstreamClient::get(
    std::shared_ptr<UpstreamClient> self, std::string target) {
  Impl* impl = self->impl_.get();
  for (int attempt = 0; attempt < 2; ++attempt) {
    // The retry (a pooled connection the server had closed after all) on a new connection:
    // another pooled one may have been closed with it (a server closes idle ones together).
    auto acquired = co_await acquire(impl, attempt > 0);
    if (!acquired.ok()) co_return acquired.status();
    ConnPtr conn = std::move(*acquired);
    proto::RequestHead head;
    head.method = "GET";
    head.target = target;
    head.headers.emplace_back("Accept", "application/json");
    head.headers.emplace_back("User-Agent", "kubehub-agent");
    bool chunked = false;
    std::string text = requestText(impl, head, false, &chunked);
    if (!co_await writeUpstream(impl, conn.get(), text)) {
      if (conn->reused) continue;
      co_return absl::UnavailableError("GET " + target + ": write failed");
    }
    // After the write: writeAll clears the expiry when it ends, a deadline set before would be
    // gone and an API server that vanished without a reset would be waited on for ever.
    auto& lowest = beast::get_lowest_layer(conn->stream);
    lowest.expires_after(impl->options.response_timeout);
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxSimpleBody);
    auto [ec, n] = co_await http::async_read(conn->stream, conn->buffer, parser, kUseTuple);
    lowest.expires_never();
    if (ec) {
      if (conn->reused && attempt == 0) continue;
      co_return absl::UnavailableError("GET " + target + ": " + ec.message());
    }
    auto res = parser.release();
    SimpleResponse out{static_cast<int>(res.result_int()),
                       std::string(res[http::field::content_type]), std::move(res.body())};
    if (res.keep_alive()) release(impl, std::move(conn));
    co_return out;
  }
  co_return absl::UnavailableError("GET " + target + ": connection failed twice");
}

}  // namespace kubehub::agent
