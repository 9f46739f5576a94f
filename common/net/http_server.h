#pragma once
/// A small HTTP/1.1 server for request/response APIs with bounded bodies: the admin endpoints
/// (/healthz, /readyz, /metrics) of every component and the metaserver's REST API.
/// Plain HTTP or HTTPS (optionally requiring client certificates); with a TlsSource, each new
/// connection takes the certificate in force, so a rotated one is served without a restart.
/// Handlers run on the connection's strand and must not block for long; any thread may call
/// start/stop.

#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/address.h"
#include "common/net/http_headers.h"
#include "common/net/tls_source.h"

namespace kubehub::net {

struct HttpRequest {
  std::string method;
  std::string target;
  std::string path;   // target without the query
  std::string query;  // without '?'
  HeaderList headers;
  std::string body;
  std::string peer;
  /// CN of the verified client certificate, when the listener requires one.
  std::string client_cn;
  std::optional<std::string> header(std::string_view name) const {
    return findHeader(headers, name);
  }
};

struct HttpResponse;

/// An answer that is not ready yet (a long poll). The server holds the request without holding
/// a thread: it calls `start` once with a `complete` function that any thread may call (once;
/// later calls do nothing), and writes what was completed, or `on_timeout()`'s answer when
/// `deadline` passes first.
struct HttpDeferred {
  std::chrono::steady_clock::time_point deadline;
  std::function<void(std::function<void(HttpResponse)> complete)> start;
  std::function<HttpResponse()> on_timeout;
};

struct HttpResponse {
  HttpResponse(int status_in = 200, std::string content_type_in = "application/json",
               std::string body_in = {}, HeaderList headers_in = {})
      : status(status_in),
        content_type(std::move(content_type_in)),
        body(std::move(body_in)),
        headers(std::move(headers_in)) {}

  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;
  /// Set for a deferred answer: everything above is then ignored.
  std::shared_ptr<HttpDeferred> deferred;
};

struct HttpServerOptions {
  std::string name = "http";  // for logs
  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 * 1024;
  std::chrono::milliseconds idle_timeout{60000};
  std::chrono::milliseconds io_timeout{30000};
  /// HTTPS when set: a fixed context for the server's life.
  std::shared_ptr<boost::asio::ssl::context> tls;
  /// HTTPS when set (and preferred over `tls`): each accepted connection takes its current
  /// context; connections already open keep theirs.
  std::shared_ptr<TlsSource> tls_source;
};

class HttpServer {
 public:
  using Handler = std::function<HttpResponse(HttpRequest&)>;

  HttpServer(boost::asio::io_context& io, HttpServerOptions options, Handler handler);
  ~HttpServer();
  absl::StatusOr<HostPort> start(const HostPort& address);
  /// Closes the listener and cancels every connection (an answer being written is cut; a long
  /// poll ends without one). Any thread; idempotent.
  void stop();
  /// After stop(): blocks until every connection has ended or `timeout` passed; whether they
  /// have. Never on a thread that runs the server's io_context.
  bool waitStopped(std::chrono::milliseconds timeout) const;

  struct Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

/// A JSON error body in the shape every kubehub REST API uses: {"error": {"code", "message"}}.
HttpResponse jsonError(int status, std::string_view message);

}  // namespace kubehub::net
