// kubehub-agent: parses options and wires the edge API server client, the tunnels to the hubs
// and the admin endpoint together.
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <cstdio>

#include "absl/strings/str_join.h"
#include "agent/dialer/hubs_message.h"
#include "agent/dialer/tunnel_client.h"
#include "agent/forward/upstream_client.h"
#include "agent/kube/kube_target.h"
#include "common/config/flags.h"
#include "common/k8s/cluster_path.h"
#include "common/log/log.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/tls.h"

namespace asio = boost::asio;
using namespace kubehub;

namespace {

constexpr const char* kVersion = "0.1.0";

std::string certificateFileCn(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return {};
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  std::string cn = net::certificateCommonName(cert);
  if (cert != nullptr) X509_free(cert);
  return cn;
}

struct Options {
  std::vector<std::string> hub_urls;
  int64_t hub_connections = 2;
  std::string cluster;
  std::string tls_cert, tls_key, hub_ca;
  std::string kubeconfig, context;
  std::string admin_listen = "0.0.0.0:9091";
  std::string log_level = "info";
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds response_timeout{60000};

  // Filled by validate(): --hub-url in canonical form, without repeats.
  std::vector<std::string> hubs;

  absl::Status validate() {
    if (hub_urls.empty())
      return absl::InvalidArgumentError(
          "--hub-url is required (e.g. wss://hub.example.com:8444/tunnel)");
    for (const auto& url : hub_urls) {
      auto canonical = agent::canonicalTunnelUrl(url);
      if (!canonical.ok()) {
        return absl::InvalidArgumentError("--hub-url: " +
                                          std::string(canonical.status().message()));
      }
      if (std::find(hubs.begin(), hubs.end(), *canonical) == hubs.end()) hubs.push_back(*canonical);
    }
    if (hub_connections < 1 || hub_connections > 16)
      return absl::InvalidArgumentError("--hub-connections must be between 1 and 16");
    if (tls_cert.empty() || tls_key.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert and --tls-key are required (the agent's client certificate for its cluster)");
    }
    if (cluster.empty()) cluster = certificateFileCn(tls_cert);
    if (cluster.empty())
      return absl::InvalidArgumentError("--cluster is required (the certificate names no cluster)");
    if (!k8s::isDnsLabel(cluster))
      return absl::InvalidArgumentError("--cluster must be a DNS label, got \"" + cluster + "\"");
    if (backoff_base.count() <= 0 || backoff_max < backoff_base) {
      return absl::InvalidArgumentError("--backoff-base must be > 0 and <= --backoff-max");
    }
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  config::FlagSet flags("kubehub-agent",
                        "The kubehub agent: runs in an edge cluster, dials hubs and executes the "
                        "requests they forward against the local API server.");
  flags.addStringList("hub-url", &o.hub_urls,
                      "hubs' tunnel endpoints, wss://HOST:PORT/tunnel (a hub or a load balancer "
                      "in front of several); the agent also learns the fleet's hubs from them");
  flags.addInt("hub-connections", &o.hub_connections,
               "tunnels to distinct hubs kept at once (1 to 16); with fewer hubs known, the "
               "extra connections wait");
  flags.addString("cluster", &o.cluster, "this cluster's name (default: the CN of --tls-cert)");
  flags.addString("tls-cert", &o.tls_cert,
                  "PEM client certificate identifying this cluster to the hub");
  flags.addString("tls-key", &o.tls_key, "PEM private key of --tls-cert");
  flags.addString("hub-ca", &o.hub_ca,
                  "PEM CA bundle that signed the hub's certificate (default: system roots)");
  flags.addString("kubeconfig", &o.kubeconfig,
                  "kubeconfig of the edge API server (default: in-cluster ServiceAccount)");
  flags.addString("context", &o.context, "kubeconfig context (default: current-context)");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addDuration("backoff-base", &o.backoff_base, "first reconnect delay ceiling (full jitter)");
  flags.addDuration("backoff-max", &o.backoff_max, "largest reconnect delay ceiling");
  flags.addDuration("response-timeout", &o.response_timeout,
                    "how long to wait for the API server's response head");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError("kubehub-agent", s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError("kubehub-agent",
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  log::Level level;
  if (!log::parseLevel(o.log_level, &level)) {
    net::exitWithConfigError(
        "kubehub-agent",
        absl::InvalidArgumentError("--log-level must be debug, info, warn or error"));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError("kubehub-agent", s);
  log::init("agent", level);

  auto admin_listen = net::parseHostPort(o.admin_listen);
  if (!admin_listen.ok()) net::exitWithConfigError("kubehub-agent", admin_listen.status());
  net::ClientTlsOptions hub_tls;
  hub_tls.ca_file = o.hub_ca;
  hub_tls.cert_file = o.tls_cert;
  hub_tls.key_file = o.tls_key;
  auto tls = net::makeClientContext(hub_tls);
  if (!tls.ok()) net::exitWithConfigError("kubehub-agent", tls.status());

  absl::StatusOr<agent::KubeTarget> target =
      o.kubeconfig.empty() ? agent::loadInCluster(
                                 [](const char* name) -> std::optional<std::string> {
                                   const char* v = std::getenv(name);
                                   return v ? std::optional<std::string>(v) : std::nullopt;
                                 },
                                 "/var/run/secrets/kubernetes.io/serviceaccount")
                           : agent::loadKubeconfig(o.kubeconfig, o.context);
  if (!target.ok()) net::exitWithConfigError("kubehub-agent", target.status());

  asio::io_context io(1);
  agent::UpstreamOptions upstream_options;
  upstream_options.response_timeout = o.response_timeout;
  std::string api = target->server.host + ":" + std::to_string(target->server.port);
  std::string source = target->source;
  auto state = std::make_shared<agent::AgentState>();
  upstream_options.metrics = state->metrics;
  auto upstream =
      agent::UpstreamClient::create(io.get_executor(), std::move(*target), upstream_options);
  if (!upstream.ok()) net::exitWithConfigError("kubehub-agent", upstream.status());

  net::HttpServerOptions admin_options;
  admin_options.name = "admin";
  net::HttpServer admin(io, admin_options, [state](net::HttpRequest& req) -> net::HttpResponse {
    if (req.path == "/healthz" || req.path == "/livez") return {200, "text/plain", "ok\n", {}};
    if (req.path == "/readyz") {
      bool tunnel_up = state->tunnels_up > 0;
      if (tunnel_up && state->api_reachable) return {200, "text/plain", "ok\n", {}};
      std::string why = std::string(tunnel_up ? "" : "no tunnel to any hub; ") +
                        (state->api_reachable ? "" : "API server not reached yet");
      return {503, "text/plain", why + "\n", {}};
    }
    if (req.path == "/metrics") {
      return {200, "text/plain; version=0.0.4", state->metrics->serialize(), {}};
    }
    return net::jsonError(404, "not found");
  });
  auto admin_bound = admin.start(*admin_listen);
  if (!admin_bound.ok()) net::exitWithConfigError("kubehub-agent", admin_bound.status());
  log::info("admin listening", {{"address", admin_bound->str()}});
  log::info("agent started", {{"cluster", o.cluster},
                              {"version", kVersion},
                              {"api_server", api},
                              {"credentials", source},
                              {"hubs", absl::StrJoin(o.hubs, ",")},
                              {"hub_connections", o.hub_connections}});

  agent::TunnelClientOptions tunnel_options;
  tunnel_options.hubs = o.hubs;
  tunnel_options.connections = static_cast<int>(o.hub_connections);
  tunnel_options.cluster = o.cluster;
  tunnel_options.agent_version = kVersion;
  tunnel_options.tls = *tls;
  tunnel_options.backoff_base = o.backoff_base;
  tunnel_options.backoff_max = o.backoff_max;
  asio::co_spawn(io, agent::runTunnelClient(tunnel_options, *upstream, state), asio::detached);

  net::runIoContext(io, 1, [&io] { io.stop(); });
  log::info("agent stopped");
  return 0;
}
