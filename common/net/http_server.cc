#include "common/net/http_server.h"

#include <openssl/ssl.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>

#include "common/log/log.h"
#include "common/net/listener.h"
#include "common/net/task_group.h"
#include "common/net/tls.h"
#include "common/net/tls_stream.h"

namespace kubehub::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);

http::response<http::string_body> toBeast(HttpResponse r, unsigned version, bool keep_alive) {
  http::response<http::string_body> res{static_cast<http::status>(r.status), version};
  res.set(http::field::content_type, r.content_type);
  res.set(http::field::cache_control, "no-store");
  for (auto& [k, v] : r.headers) res.set(k, v);
  res.body() = std::move(r.body);
  res.keep_alive(keep_alive);
  res.prepare_payload();
  return res;
}

/// Waits for a deferred answer on the calling coroutine's executor, without a thread.
asio::awaitable<HttpResponse> awaitDeferred(std::shared_ptr<HttpDeferred> d) {
  struct State {
    explicit State(asio::any_io_executor ex) : timer(ex) {}
    std::mutex mu;
    std::optional<HttpResponse> result;
    asio::steady_timer timer;
  };
  auto ex = co_await asio::this_coro::executor;
  auto state = std::make_shared<State>(ex);
  state->timer.expires_at(d->deadline);
  d->start([state, ex](HttpResponse r) {
    {
      std::lock_guard lock(state->mu);
      if (state->result) return;
      state->result = std::move(r);
    }
    asio::post(ex, [state] { state->timer.cancel(); });
  });
  co_await state->timer.async_wait(kUseTuple);
  std::lock_guard lock(state->mu);
  if (!state->result) state->result = d->on_timeout();
  co_return std::move(*state->result);
}

}  // namespace

HttpResponse jsonError(int status, std::string_view message) {
  nlohmann::json j = {{"error", {{"code", status}, {"message", std::string(message)}}}};
  HttpResponse r;
  r.status = status;
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

struct HttpServer::Impl : std::enable_shared_from_this<HttpServer::Impl> {
  Impl(asio::io_context& io_in, HttpServerOptions o, Handler h)
      : io(io_in),
        options(std::move(o)),
        handler(std::move(h)),
        acceptor(asio::make_strand(io_in)),
        tasks(options.name) {}

  template <typename Stream>
  static asio::awaitable<void> serve(std::shared_ptr<Impl> self, Stream& stream, std::string peer,
                                     std::string client_cn);
  static asio::awaitable<void> session(std::shared_ptr<Impl> self, tcp::socket socket);
  static asio::awaitable<void> acceptLoop(std::shared_ptr<Impl> self);

  asio::io_context& io;
  HttpServerOptions options;
  Handler handler;
  tcp::acceptor acceptor;
  bool stopped = false;
  /// The accept loop and every connection.
  TaskGroup tasks;
};

template <typename Stream>
asio::awaitable<void> HttpServer::Impl::serve(std::shared_ptr<Impl> self, Stream& stream,
                                              std::string peer, std::string client_cn) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(static_cast<uint32_t>(self->options.max_header_bytes));
    parser.body_limit(self->options.max_body_bytes);
    beast::get_lowest_layer(stream).expires_after(self->options.idle_timeout);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, kUseTuple);
    if (ec) {
      if (ec == http::error::body_limit || ec == http::error::header_limit) {
        bool head = ec == http::error::header_limit;
        auto res = toBeast(
            head ? jsonError(431, "request header fields too large (limit " +
                                      std::to_string(self->options.max_header_bytes) + " bytes)")
                 : jsonError(413, "request too large (limit " +
                                      std::to_string(self->options.max_body_bytes) + " bytes)"),
            11, false);
        beast::get_lowest_layer(stream).expires_after(self->options.io_timeout);
        co_await http::async_write(stream, res, kUseTuple);
      } else if (ec.category() == http::make_error_code(http::error::bad_target).category() &&
                 ec != http::error::end_of_stream) {
        auto res = toBeast(jsonError(400, "malformed HTTP request: " + ec.message()), 11, false);
        beast::get_lowest_layer(stream).expires_after(self->options.io_timeout);
        co_await http::async_write(stream, res, kUseTuple);
      }
      co_return;
    }
    auto req = parser.release();
    HttpRequest r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    size_t q = r.target.find('?');
    r.path = r.target.substr(0, q);
    r.query = q == std::string::npos ? "" : r.target.substr(q + 1);
    for (const auto& f : req)
      r.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
    r.body = std::move(req.body());
    r.peer = peer;
    r.client_cn = client_cn;
    HttpResponse out;
    try {
      out = self->handler(r);
    } catch (const std::exception& e) {
      log::error("handler failed",
                 {{"server", self->options.name}, {"path", r.path}, {"error", e.what()}});
      out = jsonError(500, "internal error");
    }
    if (out.deferred) out = co_await awaitDeferred(std::move(out.deferred));
    bool keep = req.keep_alive();
    auto res = toBeast(std::move(out), req.version(), keep);
    beast::get_lowest_layer(stream).expires_after(self->options.io_timeout);
    auto [wec, wn] = co_await http::async_write(stream, res, kUseTuple);
    if (wec || !keep) co_return;
  }
}

asio::awaitable<void> HttpServer::Impl::session(std::shared_ptr<Impl> self, tcp::socket socket) {
  boost::system::error_code ignored;
  auto ep = socket.remote_endpoint(ignored);
  std::string peer = ep.address().to_string() + ":" + std::to_string(ep.port());
  // Held for the connection's life: a rotation replaces the source's context, not this one.
  std::shared_ptr<asio::ssl::context> tls =
      self->options.tls_source ? self->options.tls_source->current() : self->options.tls;
  if (!tls && self->options.tls_source) co_return;  // HTTPS with nothing to serve yet: never plain
  if (!tls) {
    beast::tcp_stream stream(std::move(socket));
    co_await serve(self, stream, peer, "");
    stream.socket().shutdown(tcp::socket::shutdown_both, ignored);
    co_return;
  }
  TlsStream stream(beast::tcp_stream(std::move(socket)), *tls);
  beast::get_lowest_layer(stream).expires_after(self->options.io_timeout);
  auto [hec] = co_await stream.async_handshake(asio::ssl::stream_base::server, kUseTuple);
  if (hec) {
    log::debug("TLS handshake failed",
               {{"server", self->options.name}, {"peer", peer}, {"error", hec.message()}});
    co_return;
  }
  std::string cn;
  if (X509* cert = SSL_get1_peer_certificate(stream.native_handle()); cert != nullptr) {
    cn = certificateCommonName(cert);
    X509_free(cert);
  }
  co_await serve(self, stream, peer, cn);
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ignored);
}

asio::awaitable<void> HttpServer::Impl::acceptLoop(std::shared_ptr<Impl> self) {
  for (;;) {
    auto [ec, socket] =
        co_await self->acceptor.async_accept(asio::make_strand(self->io), kUseTuple);
    if (self->stopped) co_return;
    if (ec) {
      log::warn("accept failed", {{"server", self->options.name}, {"error", ec.message()}});
      asio::steady_timer t(self->acceptor.get_executor(), std::chrono::milliseconds(50));
      co_await t.async_wait(kUseTuple);
      continue;
    }
    auto ex = socket.get_executor();
    self->tasks.spawn(ex, session(self, std::move(socket)));
  }
}

HttpServer::HttpServer(asio::io_context& io, HttpServerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(io, std::move(options), std::move(handler))) {}

HttpServer::~HttpServer() { stop(); }

absl::StatusOr<HostPort> HttpServer::start(const HostPort& address) {
  auto bound = openListener(impl_->acceptor, address);
  if (!bound.ok()) return bound.status();
  impl_->tasks.spawn(impl_->acceptor.get_executor(), Impl::acceptLoop(impl_));
  return bound;
}

void HttpServer::stop() {
  if (!impl_) return;
  asio::post(impl_->acceptor.get_executor(), [impl = impl_] {
    impl->stopped = true;
    boost::system::error_code ec;
    impl->acceptor.close(ec);
  });
  impl_->tasks.stop();
}

bool HttpServer::waitStopped(std::chrono::milliseconds timeout) const {
  return impl_->tasks.wait(timeout);
}

}  // namespace kubehub::net
