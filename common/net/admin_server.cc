#include "common/net/admin_server.h"

#include <utility>

#include "common/log/log.h"

namespace kubehub::net {

HttpResponse adminResponse(const AdminRoutes& routes, const HttpRequest& req) {
  const bool builtin = req.path == "/healthz" || req.path == "/livez" || req.path == "/readyz" ||
                       (req.path == "/metrics" && routes.metrics);
  auto route = routes.routes.find(req.path);
  if (!builtin && route == routes.routes.end()) return jsonError(404, "not found");
  if (req.method != "GET") {
    HttpResponse refused = jsonError(405, "the admin endpoint serves GET only");
    refused.headers.emplace_back("Allow", "GET");
    return refused;
  }
  if (req.path == "/healthz" || req.path == "/livez") return {200, "text/plain", "ok\n"};
  if (req.path == "/readyz") {
    Readiness r = routes.readiness ? routes.readiness() : Readiness::ok();
    if (!r.ready) return {503, "text/plain", (r.detail.empty() ? "not ready" : r.detail) + "\n"};
    return {200, "text/plain", r.detail.empty() ? "ok\n" : "ok (" + r.detail + ")\n"};
  }
  if (req.path == "/metrics") return {200, "text/plain; version=0.0.4", routes.metrics()};
  return route->second(req);
}

namespace {
HttpServerOptions named(HttpServerOptions options) {
  if (options.name == HttpServerOptions{}.name) options.name = "admin";
  return options;
}
}  // namespace

AdminServer::AdminServer(boost::asio::io_context& io, AdminRoutes routes, HttpServerOptions options)
    : server_(io, named(std::move(options)), [routes = std::move(routes)](HttpRequest& req) {
        return adminResponse(routes, req);
      }) {}

AdminServer::~AdminServer() = default;

absl::StatusOr<HostPort> AdminServer::start(const HostPort& address) {
  auto bound = server_.start(address);
  if (bound.ok()) log::info("admin listening", {{"address", bound->str()}});
  return bound;
}

void AdminServer::stop() { server_.stop(); }

}  // namespace kubehub::net
