#pragma once
/// The admin endpoint every kubehub process (hub, agent, metaserver) serves on its own
/// listener, written once: `/healthz` and `/livez` (the process answers), `/readyz` (whether it
/// should get traffic, and why not), `/metrics` (Prometheus text) and the process's own
/// read-only routes (the hub's `/debug/*`). Probes may come from outside the trust boundary:
/// readiness reasons say what is missing, never an address or a secret.
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/net/address.h"
#include "common/net/http_server.h"

namespace kubehub::net {

/// What `/readyz` says. Ready: 200 `ok`, or `ok (detail)` when serving but degraded.
/// Not ready: 503 with the detail (what it waits for).
struct Readiness {
  bool ready = true;
  std::string detail;

  static Readiness ok() { return {}; }
  static Readiness degraded(std::string why) { return {true, std::move(why)}; }
  static Readiness waiting(std::string why) { return {false, std::move(why)}; }
};

struct AdminRoutes {
  /// Asked on every /readyz; null means ready whenever the server answers.
  std::function<Readiness()> readiness;
  /// The Prometheus exposition; null means no /metrics (404).
  std::function<std::string()> metrics;
  /// The process's own GET routes by exact path (`/debug/clusters`).
  std::map<std::string, std::function<HttpResponse(const HttpRequest&)>> routes;
};

/// The answer to one admin request: pure, so tests need no listener. Only GET is served (405
/// with `Allow: GET` otherwise); an unknown path is a JSON 404.
HttpResponse adminResponse(const AdminRoutes& routes, const HttpRequest& req);

/// An HttpServer answering with adminResponse(). The handlers run on the server's connection
/// strands of `io` and must not block for long.
class AdminServer {
 public:
  AdminServer(boost::asio::io_context& io, AdminRoutes routes, HttpServerOptions options = {});
  ~AdminServer();
  AdminServer(const AdminServer&) = delete;
  AdminServer& operator=(const AdminServer&) = delete;

  /// Binds and logs "admin listening" with the bound address.
  absl::StatusOr<HostPort> start(const HostPort& address);
  /// Closes the listener and ends every connection; any thread, idempotent.
  void stop();

 private:
  HttpServer server_;
};

}  // namespace kubehub::net
