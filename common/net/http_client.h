#pragma once
/// A small synchronous HTTP(S) client for request/response APIs (kubehubctl; hubs and agents
/// talking to the metaserver). One connection per request, bounded by a deadline; TLS verifies
/// the server against a CA bundle (or the system roots) and its host name. Beast-free
/// interface. An HttpClient is not thread-safe; use one per thread.

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "common/net/http_headers.h"
#include "common/net/tls.h"

namespace kubehub::net {

struct HttpClientOptions {
  ClientTlsOptions tls;
  /// The name the server's certificate must carry (and SNI), when not the URL's host (a
  /// kubeconfig's tls-server-name).
  std::string server_name;
  std::chrono::milliseconds timeout{30000};
  size_t max_response_bytes = 64 << 20;
};

struct HttpClientResponse {
  int status = 0;
  std::string content_type;
  std::string body;
  HeaderList headers;
};

class HttpClient {
 public:
  /// `base_url`: http://HOST[:PORT] or https://HOST[:PORT], optionally with a path prefix.
  /// InvalidArgument for a bad URL or TLS material.
  static absl::StatusOr<std::unique_ptr<HttpClient>> create(const std::string& base_url,
                                                            HttpClientOptions options);
  ~HttpClient();

  /// Sends METHOD base_path+target. Unavailable when the server cannot be reached or the
  /// deadline passes; any HTTP status is a successful response.
  absl::StatusOr<HttpClientResponse> request(const std::string& method, const std::string& target,
                                             const std::string& body = "",
                                             const HeaderList& headers = {});
  /// Pieces of a response body as they arrive; false stops reading (Cancelled).
  using BodySink = std::function<bool(std::string_view)>;
  /// request(), for a long answer read as it comes (a command's output): a 2xx response's body
  /// goes to `sink` piece by piece (the response's body stays empty) and the timeout applies to
  /// each wait rather than to the whole exchange. Other responses are read whole, as request().
  absl::StatusOr<HttpClientResponse> stream(const std::string& method, const std::string& target,
                                            const std::string& body, const HeaderList& headers,
                                            const BodySink& sink);
  /// Ends the request in progress (another thread's, e.g. a long poll) with Unavailable
  /// "cancelled", and every later one. The only call that is safe from any thread.
  void cancel();

 private:
  struct Impl;
  explicit HttpClient(std::unique_ptr<Impl> impl);
  absl::StatusOr<HttpClientResponse> exchangeOnce(const std::string& method,
                                                  const std::string& target,
                                                  const std::string& body,
                                                  const HeaderList& headers);
  std::unique_ptr<Impl> impl_;
};

}  // namespace kubehub::net
