#include "common/net/http_client.h"

#include <openssl/ssl.h>

#include <atomic>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <mutex>
#include <optional>

#include "common/net/address.h"
#include "common/net/tls_stream.h"

namespace kubehub::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

struct HttpClient::Impl {
  Url url;
  HttpClientOptions options;
  std::shared_ptr<asio::ssl::context> tls;
  /// One for the client's life: each io_context holds an eventfd, and making one per request
  /// (every 250 ms in the hub's metaserver sync) fails with EMFILE when descriptors run out.
  /// Made and dropped under `mu`, which cancel() takes to stop it.
  std::optional<asio::io_context> io;
  std::mutex mu;
  std::atomic<bool> cancelled{false};
  /// Set during stream(): the response body goes here as it arrives.
  const BodySink* sink = nullptr;

  /// Runs the event loop until the current step's handlers ran; false when cancelled (the
  /// flag is set before the loop is stopped, so either the check or the stop catches it).
  bool run(asio::io_context& loop) {
    loop.restart();
    if (cancelled) return false;
    loop.run();
    return !cancelled;
  }
};

void HttpClient::cancel() {
  impl_->cancelled = true;
  std::lock_guard lock(impl_->mu);
  if (impl_->io) impl_->io->stop();
}

HttpClient::HttpClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
HttpClient::~HttpClient() = default;

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::create(const std::string& base_url,
                                                               HttpClientOptions options) {
  auto url = parseUrl(base_url);
  if (!url.ok()) return url.status();
  if (url->scheme != "https" && url->scheme != "http") {
    return absl::InvalidArgumentError("server URL must be http:// or https://");
  }
  auto impl = std::make_unique<Impl>();
  impl->url = *url;
  impl->options = std::move(options);
  if (url->scheme == "https") {
    auto ctx = makeClientContext(impl->options.tls);
    if (!ctx.ok()) return ctx.status();
    impl->tls = *ctx;
  }
  return std::unique_ptr<HttpClient>(new HttpClient(std::move(impl)));
}

namespace {

std::string describe(const beast::error_code& e) {
  return e == beast::error::timeout ? std::string("timed out") : e.message();
}

/// Writes the request and reads the response on `stream`, running `io` until each step ends
/// (the stream's deadline bounds the whole exchange).
absl::Status cancelledError() { return absl::UnavailableError("the request was cancelled"); }

template <typename Stream, typename Impl>
absl::StatusOr<HttpClientResponse> exchange(Impl& impl, asio::io_context& io, Stream& stream,
                                            http::request<http::string_body>& req,
                                            size_t max_bytes) {
  beast::error_code ec;
  http::async_write(stream, req, [&](beast::error_code e, size_t) { ec = e; });
  if (!impl.run(io)) return cancelledError();
  if (ec) return absl::UnavailableError("sending the request failed: " + describe(ec));
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(max_bytes);
  if (impl.sink) {
    // Streamed: each piece goes to the sink as it arrives; the timeout applies to each wait.
    parser.body_limit(boost::none);
    http::async_read_header(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    if (!impl.run(io)) return cancelledError();
    if (ec) return absl::UnavailableError("reading the response failed: " + describe(ec));
    bool success = parser.get().result_int() >= 200 && parser.get().result_int() < 300;
    if (!success) {
      // An error answer is read whole, so bounded as request()'s (its Content-Length here, a
      // chunked one as it is read).
      if (parser.content_length().value_or(0) > max_bytes) {
        return absl::UnavailableError("reading the response failed: " +
                                      describe(http::make_error_code(http::error::body_limit)));
      }
      parser.body_limit(max_bytes);
    }
    while (success && !parser.is_done()) {
      beast::get_lowest_layer(stream).expires_after(impl.options.timeout);
      http::async_read_some(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
      if (!impl.run(io)) return cancelledError();
      if (ec) return absl::UnavailableError("reading the response failed: " + describe(ec));
      std::string& piece = parser.get().body();
      if (!piece.empty() && !(*impl.sink)(piece)) return absl::CancelledError("stopped");
      piece.clear();
    }
    if (!success) {
      http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
      if (!impl.run(io)) return cancelledError();
      if (ec) return absl::UnavailableError("reading the response failed: " + describe(ec));
    }
  } else {
    http::async_read(stream, buffer, parser, [&](beast::error_code e, size_t) { ec = e; });
    if (!impl.run(io)) return cancelledError();
    if (ec) return absl::UnavailableError("reading the response failed: " + describe(ec));
  }
  auto res = parser.release();
  HttpClientResponse out;
  out.status = static_cast<int>(res.result_int());
  out.content_type = std::string(res[http::field::content_type]);
  for (const auto& f : res)
    out.headers.emplace_back(std::string(f.name_string()), std::string(f.value()));
  out.body = std::move(res.body());
  return out;
}

}  // namespace

absl::StatusOr<HttpClientResponse> HttpClient::request(const std::string& method,
                                                       const std::string& target,
                                                       const std::string& body,
                                                       const HeaderList& headers) {
  // Asio reports a failure to get a resource (a descriptor for the event loop or the socket) by
  // throwing; here it is an unavailable server like any other, never the end of the process.
  try {
    auto out = exchangeOnce(method, target, body, headers);
    if (impl_->cancelled) {
      // Operations stopped half-way still hold handlers that name this call's (gone) locals:
      // drop them with the loop, never run them.
      std::lock_guard lock(impl_->mu);
      impl_->io.reset();
      return cancelledError();
    }
    return out;
  } catch (const std::exception& e) {
    std::lock_guard lock(impl_->mu);
    impl_->io.reset();  // rebuilt on the next call, in case its state is what failed
    return absl::UnavailableError(std::string("cannot send the request: ") + e.what());
  }
}

absl::StatusOr<HttpClientResponse> HttpClient::stream(const std::string& method,
                                                      const std::string& target,
                                                      const std::string& body,
                                                      const HeaderList& headers,
                                                      const BodySink& sink) {
  impl_->sink = &sink;
  auto out = request(method, target, body, headers);
  impl_->sink = nullptr;
  return out;
}

absl::StatusOr<HttpClientResponse> HttpClient::exchangeOnce(const std::string& method,
                                                            const std::string& target,
                                                            const std::string& body,
                                                            const HeaderList& headers) {
  const Url& u = impl_->url;
  if (impl_->cancelled) return cancelledError();
  {
    std::lock_guard lock(impl_->mu);
    if (!impl_->io) impl_->io.emplace(1);
  }
  asio::io_context& io = *impl_->io;
  io.restart();
  tcp::resolver resolver(io);
  beast::error_code ec;
  auto endpoints = resolver.resolve(u.host, std::to_string(u.port), ec);
  if (ec) return absl::UnavailableError("cannot resolve " + u.host + ": " + ec.message());

  http::request<http::string_body> req;
  req.method_string(method);
  req.target(u.path + target);
  req.version(11);
  bool default_port =
      (u.scheme == "https" && u.port == 443) || (u.scheme == "http" && u.port == 80);
  std::string host = u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
  req.set(http::field::host, default_port ? host : host + ":" + std::to_string(u.port));
  req.set(http::field::user_agent, "kubehub-http-client/0.1");
  req.set(http::field::connection, "close");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || method == "POST" || method == "PUT" || method == "PATCH") {
    req.body() = body;
    req.prepare_payload();
  }

  // One deadline over connect, handshake, write and read.
  beast::tcp_stream tcp_stream(io);
  tcp_stream.expires_after(impl_->options.timeout);
  tcp_stream.async_connect(endpoints, [&](beast::error_code e, const tcp::endpoint&) { ec = e; });
  if (!impl_->run(io)) return cancelledError();
  if (ec) {
    return absl::UnavailableError("cannot connect to " + u.host + ":" + std::to_string(u.port) +
                                  ": " + describe(ec));
  }
  if (!impl_->tls) return exchange(*impl_, io, tcp_stream, req, impl_->options.max_response_bytes);
  TlsStream stream(std::move(tcp_stream), *impl_->tls);
  const std::string& name =
      impl_->options.server_name.empty() ? u.host : impl_->options.server_name;
  if (!impl_->options.tls.insecure_skip_verify && !stream.verifyHostName(name)) {
    return absl::InternalError("cannot set the TLS host name to verify");
  }
  if (!stream.setServerName(name)) return absl::InternalError("cannot set TLS server name");
  stream.async_handshake(asio::ssl::stream_base::client, [&](beast::error_code e) { ec = e; });
  if (!impl_->run(io)) return cancelledError();
  if (ec)
    return absl::UnavailableError("TLS handshake with " + u.host + " failed: " + describe(ec));
  auto out = exchange(*impl_, io, stream, req, impl_->options.max_response_bytes);
  if (out.ok() && !impl_->cancelled) {
    // Close politely; the answer is complete either way.
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(1));
    stream.async_shutdown([](beast::error_code) {});
    impl_->run(io);
  }
  return out;
}

}  // namespace kubehub::net
