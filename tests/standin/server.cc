// The stand-in's HTTPS front end: TLS accept, HTTP/1.1 keep-alive request loop with bounded
// bodies and read deadlines, plain responses with Content-Length, and chunked streams for
// watches and logs. A stream watches its socket with a second coroutine on the same strand, so
// a client that goes away ends its watch (and its store subscription) at once.

#include "tests/standin/server.h"

#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include "common/k8s/response_compression.h"
#include "common/log/log.h"
#include "common/net/address.h"
#include "common/net/tls.h"
#include "tests/standin/api_error.h"
#include "tests/standin/server_connection.h"

namespace kubehub::standin {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = asio::ssl;
using tcp = asio::ip::tcp;

namespace {

constexpr auto kUseAwaitable = asio::as_tuple(asio::use_awaitable);
constexpr size_t kBodyLimit = 3 * 1024 * 1024;
constexpr auto kHandshakeTimeout = std::chrono::seconds(15);
constexpr auto kIdleTimeout = std::chrono::seconds(120);
constexpr auto kWriteTimeout = std::chrono::seconds(60);
constexpr size_t kLogBlock = 256 * 1024;
/// One HTTP chunk per write of at most this much, as the API server streams logs: io.Copy's
/// 32 KiB buffer through a writer that flushes (a chunk) after every write.
constexpr size_t kLogChunk = 32 * 1024;
static_assert(kLogBlock % kLogChunk == 0);

struct ServerState {
  ApiServer& api;
  std::shared_ptr<ssl::context> tls;
  bool client_certs = false;
  std::shared_ptr<EchoPorts> echo;
};

/// Wakes a streaming coroutine: new store events, the client going away, or its timer.
struct StreamSignal {
  explicit StreamSignal(const asio::any_io_executor& ex) : timer(ex) {}
  asio::steady_timer timer;
  bool pending = false;
  bool closed = false;
};

std::string auditId() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  uint64_t a = rng();
  uint64_t b = rng();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%08x-%04x-4%03x-%04x-%012llx", static_cast<unsigned>(a >> 32),
                static_cast<unsigned>((a >> 16) & 0xffff), static_cast<unsigned>(a & 0xfff),
                static_cast<unsigned>(0x8000 | ((b >> 48) & 0x3fff)),
                static_cast<unsigned long long>(b & 0xffffffffffffULL));
  return buf;
}

void setCommonHeaders(http::response_header<>& h, const std::string& content_type) {
  h.set(http::field::content_type, content_type);
  h.set(http::field::cache_control, "no-cache, private");
  h.set("Audit-Id", auditId());
}

/// `gzip_ok`: the request's Accept-Encoding asks for gzip (common/k8s/response_compression.h).
asio::awaitable<bool> writeResponse(std::shared_ptr<Connection> conn, HttpResponse response,
                                    bool keep_alive, bool gzip_ok = false) {
  http::response<http::string_body> res{static_cast<http::status>(response.status), 11};
  setCommonHeaders(res.base(), response.content_type);
  for (const auto& [k, v] : response.headers) res.set(k, v);
  res.keep_alive(keep_alive);
  std::string gzipped;
  if (gzip_ok && response.api_object && response.body.size() > k8s::kGzipThresholdBytes) {
    gzipped = k8s::gzipFast(response.body);
  }
  if (!gzipped.empty()) {
    // As the server's gzip writer: the length is not known up front, so the body is chunked.
    res.set(http::field::content_encoding, "gzip");
    res.insert(http::field::vary, "Accept-Encoding");
    res.body() = std::move(gzipped);
    res.chunked(true);
  } else {
    res.body() = std::move(response.body);
    res.prepare_payload();
  }
  beast::get_lowest_layer(conn->stream).expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write(conn->stream, res, kUseAwaitable);
  co_return !ec;
}

// Coroutine parameters are taken by value, and callers pass named objects, never temporaries
// built inside a co_await expression: GCC 12 destroys some of those twice.
asio::awaitable<bool> writeChunk(std::shared_ptr<Connection> conn, std::string data) {
  if (data.empty()) co_return true;
  beast::get_lowest_layer(conn->stream).expires_after(kWriteTimeout);
  auto chunk = http::make_chunk(asio::buffer(data));
  auto [ec, n] = co_await asio::async_write(conn->stream, chunk, kUseAwaitable);
  co_return !ec;
}

asio::awaitable<bool> writeLastChunk(std::shared_ptr<Connection> conn) {
  beast::get_lowest_layer(conn->stream).expires_after(kWriteTimeout);
  auto last = http::make_chunk_last();
  auto [ec, n] = co_await asio::async_write(conn->stream, last, kUseAwaitable);
  co_return !ec;
}

/// `keep_alive`: the client's; false says `Connection: close` and the caller closes afterwards.
asio::awaitable<bool> writeStreamHead(std::shared_ptr<Connection> conn, std::string content_type,
                                      bool keep_alive) {
  http::response<http::empty_body> res{http::status::ok, 11};
  setCommonHeaders(res.base(), content_type);
  res.chunked(true);
  res.keep_alive(keep_alive);
  http::response_serializer<http::empty_body> sr{res};
  beast::get_lowest_layer(conn->stream).expires_after(kWriteTimeout);
  auto [ec, n] = co_await http::async_write_header(conn->stream, sr, kUseAwaitable);
  co_return !ec;
}

// Reads from the client while a stream is being written: any outcome (EOF, error, unexpected
// bytes) means the client is done with the stream.
asio::awaitable<void> watchForClose(std::shared_ptr<Connection> conn,
                                    std::shared_ptr<StreamSignal> signal) {
  char buf[256];
  beast::get_lowest_layer(conn->stream).expires_never();
  auto [ec, n] = co_await conn->stream.async_read_some(asio::buffer(buf), kUseAwaitable);
  (void)ec;
  (void)n;
  signal->closed = true;
  signal->timer.cancel();
}

void wake(std::shared_ptr<StreamSignal> signal) {
  signal->pending = true;
  signal->timer.cancel();
}

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

asio::awaitable<void> streamWatch(std::shared_ptr<Connection> conn,
                                  std::shared_ptr<ServerState> state, WatchPlan plan,
                                  std::string content_type) {
  if (!co_await writeStreamHead(conn, std::move(content_type), true)) co_return;
  auto ex = conn->stream.get_executor();
  auto signal = std::make_shared<StreamSignal>(ex);
  // Store writers run on any thread: they post the wake-up to this connection's strand.
  // Unsubscribed however the coroutine ends, also when its frame is destroyed with the stopped
  // server's io_context: the store outlives the context, and the waker holds a timer of it.
  struct Subscription {
    ObjectStore& store;
    uint64_t id;
    ~Subscription() { store.unsubscribe(id); }
  };
  Subscription sub{state->api.store(), state->api.store().subscribe([ex, signal] {
                     asio::post(ex, [signal] { wake(signal); });
                   })};
  asio::co_spawn(ex, watchForClose(conn, signal), asio::detached);
  using clock = std::chrono::steady_clock;
  const auto deadline = clock::now() + plan.timeout;
  const auto interval =
      std::max(state->api.config().bookmark_interval, std::chrono::milliseconds(10));
  auto next_bookmark = clock::now() + interval;
  bool ok = true;
  while (ok) {
    signal->pending = false;
    std::string out = plan.session->poll(nowSeconds());
    if (!out.empty()) ok = co_await writeChunk(conn, std::move(out));
    if (!ok || plan.session->finished() || signal->closed) break;
    auto now = clock::now();
    if (now >= deadline) break;
    if (plan.bookmarks && now >= next_bookmark) {
      std::string bookmark = plan.session->bookmark(nowSeconds());
      ok = co_await writeChunk(conn, std::move(bookmark));
      next_bookmark = now + interval;
      continue;
    }
    if (signal->pending) continue;
    signal->timer.expires_at(plan.bookmarks ? std::min(deadline, next_bookmark) : deadline);
    co_await signal->timer.async_wait(kUseAwaitable);
  }
  if (ok && !signal->closed) co_await writeLastChunk(conn);
  // The close watcher still owns the read side; closing ends it and the connection.
  beast::get_lowest_layer(conn->stream).close();
}

asio::awaitable<void> streamFollowLogs(std::shared_ptr<Connection> conn,
                                       std::shared_ptr<ServerState> state, LogPlan plan) {
  std::string text_plain = "text/plain";
  if (!co_await writeStreamHead(conn, std::move(text_plain), true)) co_return;
  auto ex = conn->stream.get_executor();
  auto signal = std::make_shared<StreamSignal>(ex);
  asio::co_spawn(ex, watchForClose(conn, signal), asio::detached);
  std::string history = PodLogs::history(plan.request);
  bool ok = co_await writeChunk(conn, std::move(history));
  const auto interval = std::max(state->api.config().log_interval, std::chrono::milliseconds(1));
  auto next = std::chrono::steady_clock::now() + interval;
  int64_t n = PodLogs::kHistoryLines;
  while (ok && !signal->closed) {
    signal->timer.expires_at(next);
    co_await signal->timer.async_wait(kUseAwaitable);
    if (signal->closed) break;
    if (std::chrono::steady_clock::now() < next) continue;
    std::string line = PodLogs::line(plan.request, ++n);
    ok = co_await writeChunk(conn, std::move(line));
    next += interval;
  }
  beast::get_lowest_layer(conn->stream).close();
}

asio::awaitable<bool> streamLogBytes(std::shared_ptr<Connection> conn, LogPlan plan,
                                     bool keep_alive) {
  std::string text_plain = "text/plain";
  if (!co_await writeStreamHead(conn, std::move(text_plain), keep_alive)) co_return false;
  uint64_t left = plan.request.log_bytes;
  if (plan.request.limit_bytes >= 0) {
    left = std::min<uint64_t>(left, static_cast<uint64_t>(plan.request.limit_bytes));
  }
  const std::string block = PodLogs::fillerBlock(plan.request.container, kLogBlock);
  size_t offset = 0;  // the block repeats; kLogBlock is a multiple of kLogChunk
  while (left > 0) {
    size_t n = static_cast<size_t>(std::min<uint64_t>(left, kLogChunk));
    beast::get_lowest_layer(conn->stream).expires_after(kWriteTimeout);
    auto chunk = http::make_chunk(asio::buffer(block.data() + offset, n));
    auto [ec, written] = co_await asio::async_write(conn->stream, chunk, kUseAwaitable);
    if (ec) co_return false;
    left -= n;
    offset = (offset + n) % block.size();
  }
  co_return co_await writeLastChunk(conn);
}

void peerIdentity(SslStream& stream, HttpRequest* req) {
  X509* cert = SSL_get1_peer_certificate(stream.native_handle());
  if (cert == nullptr) return;
  if (SSL_get_verify_result(stream.native_handle()) == X509_V_OK) {
    req->client_cert = true;
    req->client_cn = net::certificateCommonName(cert);
    X509_NAME* subject = X509_get_subject_name(cert);
    for (int idx = X509_NAME_get_index_by_NID(subject, NID_organizationName, -1); idx >= 0;
         idx = X509_NAME_get_index_by_NID(subject, NID_organizationName, idx)) {
      ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, idx));
      unsigned char* utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, data);
      if (len >= 0) {
        req->client_orgs.emplace_back(reinterpret_cast<char*>(utf8), static_cast<size_t>(len));
        OPENSSL_free(utf8);
      }
    }
  }
  X509_free(cert);
}

HttpResponse errorResponse(const absl::Status& status) {
  ErrorResponse e = toErrorResponse(status);
  HttpResponse r;
  r.status = e.code;
  r.body = std::move(e.body);
  return r;
}

bool isHttpParseError(const boost::system::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category() &&
         ec != http::error::end_of_stream && ec != http::error::partial_message;
}

asio::awaitable<void> serveConnection(std::shared_ptr<ServerState> state, tcp::socket socket) {
  auto conn = std::make_shared<Connection>(std::move(socket), *state->tls);
  beast::get_lowest_layer(conn->stream).expires_after(kHandshakeTimeout);
  auto [hec] = co_await conn->stream.async_handshake(ssl::stream_base::server, kUseAwaitable);
  if (hec) co_return;
  HttpRequest identity;
  if (state->client_certs) peerIdentity(conn->stream, &identity);

  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kBodyLimit);
    parser.header_limit(64 * 1024);
    beast::get_lowest_layer(conn->stream).expires_after(kIdleTimeout);
    auto [ec, n] = co_await http::async_read(conn->stream, conn->buffer, parser, kUseAwaitable);
    if (ec == http::error::body_limit) {
      HttpResponse too_large = errorResponse(
          apiError(413, "RequestEntityTooLarge", "the request body is larger than 3145728 bytes"));
      co_await writeResponse(conn, std::move(too_large), false);
      break;
    }
    if (ec && isHttpParseError(ec)) {
      HttpResponse malformed = errorResponse(badRequest("malformed HTTP request: " + ec.message()));
      co_await writeResponse(conn, std::move(malformed), false);
      break;
    }
    if (ec) break;
    http::request<http::string_body> req = parser.release();
    HttpRequest hr;
    hr.method = std::string(req.method_string());
    hr.target = std::string(req.target());
    for (const auto& field : req) {
      hr.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    hr.body = req.body();
    hr.client_cert = identity.client_cert;
    hr.client_cn = identity.client_cn;
    hr.client_orgs = identity.client_orgs;
    ApiResult result = state->api.handle(hr);
    if (result.watch.has_value()) {
      std::string content_type = result.response.content_type;
      co_await streamWatch(conn, state, std::move(*result.watch), std::move(content_type));
      co_return;
    }
    if (result.exec.has_value()) {
      if (result.exec->spdy) {
        co_await serveExecSpdy(conn, std::move(req), std::move(*result.exec));
      } else {
        co_await serveExec(conn, std::move(req), std::move(*result.exec));
      }
      co_return;
    }
    if (result.port_forward.has_value()) {
      if (result.port_forward->channels) {
        co_await servePortForwardChannels(conn, std::move(req), std::move(*result.port_forward),
                                          state->echo);
      } else {
        co_await servePortForward(conn, std::move(req), std::move(*result.port_forward),
                                  state->echo);
      }
      co_return;
    }
    if (result.logs.has_value()) {
      LogPlan plan = std::move(*result.logs);
      if (plan.request.log_bytes > 0) {
        const bool keep_alive = req.keep_alive();
        if (!co_await streamLogBytes(conn, std::move(plan), keep_alive) || !keep_alive) break;
        continue;
      }
      if (plan.request.follow) {
        co_await streamFollowLogs(conn, state, std::move(plan));
        co_return;
      }
      result.response.body = PodLogs::history(plan.request);
    }
    if (result.hold.count() > 0) {
      asio::steady_timer hold(conn->stream.get_executor(), result.hold);
      co_await hold.async_wait(kUseAwaitable);
    }
    const bool keep_alive = req.keep_alive();
    const bool gzip_ok = k8s::acceptsGzip(req[http::field::accept_encoding]);
    if (!co_await writeResponse(conn, std::move(result.response), keep_alive, gzip_ok)) break;
    if (!keep_alive) break;
  }
  beast::get_lowest_layer(conn->stream).expires_after(std::chrono::seconds(5));
  auto [sec] = co_await conn->stream.async_shutdown(kUseAwaitable);
  (void)sec;
}

asio::awaitable<void> acceptLoop(std::shared_ptr<ServerState> state, tcp::acceptor& acceptor,
                                 asio::io_context& ioc) {
  while (true) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::make_strand(ioc), kUseAwaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted) co_return;
      log::warn("accept failed", {{"error", ec.message()}});
      continue;
    }
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    auto ex = socket.get_executor();
    asio::co_spawn(ex, serveConnection(state, std::move(socket)), asio::detached);
  }
}

}  // namespace

absl::Status runServer(ApiServer& api, const ServerOptions& options) {
  auto hp = net::parseHostPort(options.listen);
  if (!hp.ok()) return hp.status();
  net::ServerTlsOptions tls_opts{options.tls_cert, options.tls_key, options.client_ca};
  auto tls = net::makeServerContext(tls_opts);
  if (!tls.ok()) return tls.status();
  if (!options.client_ca.empty()) {
    // Client certificates are optional here: bearer tokens authenticate too.
    (*tls)->set_verify_mode(ssl::verify_peer);
    SSL_CTX_set_verify((*tls)->native_handle(), SSL_VERIFY_PEER,
                       [](int, X509_STORE_CTX*) { return 1; });
  }
  auto state =
      std::make_shared<ServerState>(ServerState{api, *tls, !options.client_ca.empty(), nullptr});

  asio::io_context ioc(options.threads);
  state->echo = std::make_shared<EchoPorts>(ioc.get_executor());
  tcp::acceptor acceptor(ioc);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(hp->host == "localhost" ? "127.0.0.1" : hp->host, ec);
  if (ec) return absl::InvalidArgumentError("invalid listen host \"" + hp->host + "\"");
  tcp::endpoint ep(addr, hp->port);
  acceptor.open(ep.protocol(), ec);
  if (!ec) acceptor.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor.bind(ep, ec);
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError("cannot listen on " + options.listen + ": " + ec.message());
  }
  auto local = acceptor.local_endpoint();
  net::HostPort bound{local.address().to_string(), local.port()};
  log::info("listening", {{"address", bound.str()}, {"threads", options.threads}});

  std::optional<asio::signal_set> signals;
  if (options.handle_signals) {
    signals.emplace(ioc, SIGINT, SIGTERM);
    signals->async_wait([&ioc](const boost::system::error_code& sec, int sig) {
      if (sec) return;
      log::info("stopping", {{"signal", sig}});
      ioc.stop();
    });
  }
  if (options.on_ready) options.on_ready(bound, [&ioc] { ioc.stop(); });
  asio::co_spawn(ioc, acceptLoop(state, acceptor, ioc), asio::detached);
  std::vector<std::thread> threads;
  for (int i = 1; i < options.threads; ++i) threads.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& t : threads) t.join();
  state->echo->close();
  return absl::OkStatus();
}

}  // namespace kubehub::standin
