// kubehub-agent: parses options and wires the edge API server client, the tunnels to the hubs
// and the admin endpoint together.
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "absl/strings/str_join.h"
#include "agent/commands/command_config.h"
#include "agent/dialer/hubs_message.h"
#include "agent/dialer/tunnel_client.h"
#include "agent/enrol/credential_manager.h"
#include "agent/enrol/credential_store.h"
#include "agent/forward/upstream_client.h"
#include "agent/kube/kube_target.h"
#include "common/config/flags.h"
#include "common/k8s/cluster_path.h"
#include "common/log/log.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"

namespace asio = boost::asio;
using namespace kubehub;

namespace {

constexpr const char* kVersion = "0.1.0";
#ifndef KUBEHUB_BUILD
#define KUBEHUB_BUILD "dev"
#endif
constexpr const char* kBuild = KUBEHUB_BUILD;
/// Never two cluster status reports on one tunnel closer than this.
constexpr std::chrono::seconds kStatusMinInterval{10};
constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
}

/// A Kubernetes object name: dot-separated DNS labels, at most 253 characters.
bool isDnsSubdomain(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = name.find('.', start);
    if (!k8s::isDnsLabel(name.substr(start, dot - start))) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

std::optional<std::string> readText(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

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
  std::chrono::milliseconds tls_reload_interval{10000};
  // Enrolment with the metaserver instead of --tls-cert/--tls-key.
  std::string metaserver_url, metaserver_ca;
  std::string bootstrap_token_file, bootstrap_token;
  std::string credentials_dir, credentials_secret, ns;
  std::string kubeconfig, context;
  std::string admin_listen = "0.0.0.0:9091";
  std::string commands_file;
  std::string mode = "kubernetes";
  std::string host_disk_path = "/";
  std::string log_level = "info";
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds response_timeout{60000};
  std::chrono::milliseconds status_interval{60000};
  std::chrono::milliseconds status_check_interval{10000};

  // Filled by validate(): --hub-url in canonical form, without repeats.
  std::vector<std::string> hubs;

  absl::Status validate() {
    if (mode != "kubernetes" && mode != "native") {
      return absl::InvalidArgumentError("--mode must be kubernetes or native, got \"" + mode +
                                        "\"");
    }
    if (native()) {
      // Refused rather than ignored: each of them says the operator expects an API server.
      for (const auto& [flag, value] :
           {std::pair<const char*, const std::string*>{"kubeconfig", &kubeconfig},
            {"context", &context},
            {"credentials-secret", &credentials_secret},
            {"namespace", &ns}}) {
        if (!value->empty()) {
          return absl::InvalidArgumentError(
              "--" + std::string(flag) +
              " needs a Kubernetes API server; --mode native has none (keep enrolled "
              "credentials with --credentials-dir)");
        }
      }
      if (host_disk_path.empty() || host_disk_path.front() != '/') {
        return absl::InvalidArgumentError("--host-disk-path must be an absolute path, got \"" +
                                          host_disk_path + "\"");
      }
    }
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
    if (!credentials_dir.empty() && !credentials_secret.empty()) {
      return absl::InvalidArgumentError(
          "give --credentials-dir or --credentials-secret, not both (where the enrolled "
          "certificate is kept)");
    }
    if (enrolling()) {
      if (!tls_cert.empty() || !tls_key.empty()) {
        return absl::InvalidArgumentError(
            "give --tls-cert/--tls-key (a certificate issued elsewhere) or "
            "--credentials-dir/--credentials-secret (enrolment with the metaserver), not both");
      }
      if (cluster.empty()) {
        return absl::InvalidArgumentError(
            "--cluster is required with --credentials-dir/--credentials-secret");
      }
      if (metaserver_url.empty()) {
        return absl::InvalidArgumentError(
            "--metaserver-url is required with --credentials-dir/--credentials-secret (the agent "
            "enrols and renews its certificate there)");
      }
      auto u = net::parseUrl(metaserver_url);
      if (!u.ok() || (u->scheme != "https" && u->scheme != "http")) {
        return absl::InvalidArgumentError(
            "--metaserver-url must be an https:// (or http://) URL, got \"" + metaserver_url +
            "\"");
      }
      while (!metaserver_url.empty() && metaserver_url.back() == '/') metaserver_url.pop_back();
      if (!credentials_secret.empty() && !isDnsSubdomain(credentials_secret)) {
        return absl::InvalidArgumentError("--credentials-secret must be a Secret name, got \"" +
                                          credentials_secret + "\"");
      }
      if (!bootstrap_token.empty() && !bootstrap_token_file.empty()) {
        return absl::InvalidArgumentError(
            "give --bootstrap-token-file or KUBEHUB_BOOTSTRAP_TOKEN, not both");
      }
      if (!bootstrap_token_file.empty()) {
        auto text = readText(bootstrap_token_file);
        if (!text) {
          return absl::InvalidArgumentError("--bootstrap-token-file \"" + bootstrap_token_file +
                                            "\" cannot be read");
        }
        bootstrap_token = trimmed(*text);
      }
      bootstrap_token = trimmed(bootstrap_token);
      if (ns.empty() && !native()) {
        auto text = readText(std::string(kServiceAccountDir) + "/namespace");
        ns = text ? trimmed(*text) : "default";
      }
      if (!native() && !k8s::isDnsLabel(ns))
        return absl::InvalidArgumentError("--namespace must be a DNS label, got \"" + ns + "\"");
    } else {
      if (!bootstrap_token.empty() || !bootstrap_token_file.empty()) {
        return absl::InvalidArgumentError(
            "a bootstrap token needs --credentials-dir or --credentials-secret (where the "
            "enrolled certificate and key are kept) and --metaserver-url");
      }
      if (tls_cert.empty() || tls_key.empty()) {
        return absl::InvalidArgumentError(
            "--tls-cert and --tls-key are required (the agent's client certificate for its "
            "cluster), or enrol with the metaserver: --credentials-dir or --credentials-secret, "
            "--metaserver-url and a bootstrap token");
      }
    }
    if (tls_reload_interval.count() < 0)
      return absl::InvalidArgumentError("--tls-reload-interval must not be negative");
    if (cluster.empty()) cluster = certificateFileCn(tls_cert);
    if (cluster.empty())
      return absl::InvalidArgumentError("--cluster is required (the certificate names no cluster)");
    if (!k8s::isDnsLabel(cluster))
      return absl::InvalidArgumentError("--cluster must be a DNS label, got \"" + cluster + "\"");
    if (backoff_base.count() <= 0 || backoff_max < backoff_base) {
      return absl::InvalidArgumentError("--backoff-base must be > 0 and <= --backoff-max");
    }
    if (status_interval.count() != 0 && status_interval < kStatusMinInterval) {
      return absl::InvalidArgumentError(
          "--status-interval must be at least 10s (reports go at most once per 10 s), or 0 to "
          "send none");
    }
    if (status_check_interval < std::chrono::seconds(1)) {
      return absl::InvalidArgumentError("--status-check-interval must be at least 1s");
    }
    return absl::OkStatus();
  }

  /// --mode native: a bare host, native commands only, no API server.
  bool native() const { return mode == "native"; }
  bool enrolling() const { return !credentials_dir.empty() || !credentials_secret.empty(); }
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
  flags.addString("cluster", &o.cluster,
                  "this cluster's name (default: the CN of --tls-cert; required when enrolling)");
  flags.addString("tls-cert", &o.tls_cert,
                  "PEM client certificate identifying this cluster to the hub (issued elsewhere; "
                  "or enrol with --credentials-dir/--credentials-secret)");
  flags.addString("tls-key", &o.tls_key, "PEM private key of --tls-cert");
  flags.addString("hub-ca", &o.hub_ca,
                  "PEM CA bundle that signed the hub's certificate (default: system roots)");
  flags.addDuration("tls-reload-interval", &o.tls_reload_interval,
                    "how often to look for changed --tls-cert/--tls-key/--hub-ca files (a rotated "
                    "Secret); new tunnels use the new ones, open tunnels stay up (0: never)");
  flags.addString("metaserver-url", &o.metaserver_url,
                  "enrolment: the metaserver, https://HOST:PORT, where the agent gets its "
                  "certificate with a bootstrap token and renews it before it expires");
  flags.addString("metaserver-ca", &o.metaserver_ca,
                  "enrolment: PEM CA bundle that signed the metaserver's certificate (default: "
                  "system roots)");
  flags.addString("bootstrap-token-file", &o.bootstrap_token_file,
                  "enrolment: file holding the one-time bootstrap token (kubehubctl cluster "
                  "install CLUSTER makes one); needed only while nothing usable is stored");
  flags.addString("bootstrap-token", &o.bootstrap_token,
                  "enrolment: the bootstrap token itself (prefer the file or "
                  "KUBEHUB_BOOTSTRAP_TOKEN: flags show in the process list)");
  flags.addString("credentials-dir", &o.credentials_dir,
                  "enrolment: keep the enrolled certificate, key (mode 0600) and CA in this "
                  "directory as tls.crt, tls.key, ca.crt (replaced atomically on renewal)");
  flags.addString("credentials-secret", &o.credentials_secret,
                  "enrolment: keep them in this Secret (type kubernetes.io/tls) of --namespace, "
                  "read and written with the agent's own API server credentials (needs get and "
                  "update on it)");
  flags.addString("namespace", &o.ns,
                  "namespace of --credentials-secret (default: the ServiceAccount's, else "
                  "default)");
  flags.addString("mode", &o.mode,
                  "kubernetes (front the edge API server) or native (a bare host without one: "
                  "serves only --commands-file and reports the host's OS, CPUs, memory, disk and "
                  "load; refuses --kubeconfig, --context, --credentials-secret, --namespace)");
  flags.addString("host-disk-path", &o.host_disk_path,
                  "--mode native: the file system whose size and free space the status report "
                  "gives");
  flags.addString("kubeconfig", &o.kubeconfig,
                  "kubeconfig of the edge API server (default: in-cluster ServiceAccount)");
  flags.addString("context", &o.context, "kubeconfig context (default: current-context)");
  flags.addString("commands-file", &o.commands_file,
                  "native commands users may run through the hub (YAML or JSON, see the agent's "
                  "README); checked at start; without it the agent offers none");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addDuration("backoff-base", &o.backoff_base, "first reconnect delay ceiling (full jitter)");
  flags.addDuration("backoff-max", &o.backoff_max, "largest reconnect delay ceiling");
  flags.addDuration("response-timeout", &o.response_timeout,
                    "how long to wait for the API server's response head");
  flags.addDuration("status-interval", &o.status_interval,
                    "how often each tunnel sends the cluster status report (Kubernetes version, "
                    "nodes, agent version) even when nothing changed; changes go at once, but "
                    "never more than one report per 10 s (at least 10s; 0: send none)");
  flags.addDuration("status-check-interval", &o.status_check_interval,
                    "how often the agent reads /version and lists nodes to notice changes for the "
                    "status report (at least 1s)");
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
  std::shared_ptr<const agent::CommandSet> commands;
  if (!o.commands_file.empty()) {
    auto loaded = agent::CommandSet::load(o.commands_file);
    if (!loaded.ok()) net::exitWithConfigError("kubehub-agent", loaded.status());
    commands = *loaded;
  }
  // --tls-cert/--tls-key: files, reloaded when they change. Enrolment: the credential manager
  // makes the source once it has a certificate.
  std::shared_ptr<net::TlsSource> files_tls;
  if (!o.enrolling()) {
    net::ClientTlsOptions hub_tls;
    hub_tls.ca_file = o.hub_ca;
    hub_tls.cert_file = o.tls_cert;
    hub_tls.key_file = o.tls_key;
    std::vector<std::string> files = {o.tls_cert, o.tls_key};
    if (!o.hub_ca.empty()) files.push_back(o.hub_ca);
    auto source = net::TlsSource::fromFiles("tunnel", files,
                                            [hub_tls] { return net::makeClientContext(hub_tls); });
    if (!source.ok()) net::exitWithConfigError("kubehub-agent", source.status());
    files_tls = *source;
  } else if (!o.hub_ca.empty()) {
    // Checked now rather than after enrolment has spent the token.
    net::ClientTlsOptions check;
    check.ca_file = o.hub_ca;
    if (auto ctx = net::makeClientContext(check); !ctx.ok())
      net::exitWithConfigError("kubehub-agent", ctx.status());
  }

  std::optional<agent::KubeTarget> target;
  if (!o.native()) {
    auto loaded = o.kubeconfig.empty()
                      ? agent::loadInCluster(
                            [](const char* name) -> std::optional<std::string> {
                              const char* v = std::getenv(name);
                              return v ? std::optional<std::string>(v) : std::nullopt;
                            },
                            kServiceAccountDir)
                      : agent::loadKubeconfig(o.kubeconfig, o.context);
    if (!loaded.ok()) net::exitWithConfigError("kubehub-agent", loaded.status());
    target = std::move(*loaded);
  }
  std::unique_ptr<agent::CredentialStore> store;
  if (!o.credentials_dir.empty()) {
    store = agent::makeDirectoryStore(o.credentials_dir);
  } else if (!o.credentials_secret.empty()) {
    auto secret = agent::makeSecretStore(*target, o.ns, o.credentials_secret);
    if (!secret.ok()) net::exitWithConfigError("kubehub-agent", secret.status());
    store = std::move(*secret);
  }

  asio::io_context io(1);
  agent::UpstreamOptions upstream_options;
  upstream_options.response_timeout = o.response_timeout;
  std::string api = target ? target->server.host + ":" + std::to_string(target->server.port)
                           : std::string("none (native mode)");
  std::string source = target ? target->source : std::string("none");
  auto state = std::make_shared<agent::AgentState>();
  upstream_options.metrics = state->metrics;
  state->commands = std::make_shared<agent::CommandService>(commands, state->metrics);
  // A host agent has no upstream: its tunnels refuse every API server path.
  std::shared_ptr<agent::UpstreamClient> upstream;
  if (target) {
    auto created =
        agent::UpstreamClient::create(io.get_executor(), std::move(*target), upstream_options);
    if (!created.ok()) net::exitWithConfigError("kubehub-agent", created.status());
    upstream = *created;
  } else {
    // Nothing to reach: ready once a tunnel is up.
    state->api_reachable = true;
    state->metrics->apiReachable(true);
  }
  if (o.status_interval.count() > 0) {
    agent::StatusReporterOptions so;
    so.interval = o.status_interval;
    so.check_interval = o.status_check_interval;
    so.min_interval = kStatusMinInterval;
    so.agent_version = kVersion;
    so.agent_build = kBuild;
    so.host = o.native();
    so.host_disk_path = o.host_disk_path;
    state->status = std::make_shared<agent::StatusReporter>(so);
    asio::co_spawn(io, agent::StatusReporter::run(state->status, upstream), asio::detached);
  }

  net::HttpServerOptions admin_options;
  admin_options.name = "admin";
  net::HttpServer admin(io, admin_options, [state](net::HttpRequest& req) -> net::HttpResponse {
    if (req.path == "/healthz" || req.path == "/livez") return {200, "text/plain", "ok\n", {}};
    if (req.path == "/readyz") {
      bool tunnel_up = state->tunnels_up > 0;
      if (tunnel_up && state->api_reachable) return {200, "text/plain", "ok\n", {}};
      std::string why = std::string(state->enrolling ? "waiting for a certificate from the "
                                                       "metaserver; "
                                                     : "") +
                        (tunnel_up ? "" : "no tunnel to any hub; ") +
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
  const std::string client_certificate =
      o.enrolling() ? "enrolled, kept in " + store->describe() : "files " + o.tls_cert;
  log::info("agent started", {{"cluster", o.cluster},
                              {"version", kVersion},
                              {"build", kBuild},
                              {"mode", o.mode},
                              {"api_server", api},
                              {"credentials", source},
                              {"client_certificate", client_certificate},
                              {"hubs", absl::StrJoin(o.hubs, ",")},
                              {"hub_connections", o.hub_connections}});

  agent::TunnelClientOptions tunnel_options;
  tunnel_options.hubs = o.hubs;
  tunnel_options.connections = static_cast<int>(o.hub_connections);
  tunnel_options.cluster = o.cluster;
  tunnel_options.agent_version = kVersion;
  tunnel_options.host = o.native();
  tunnel_options.backoff_base = o.backoff_base;
  tunnel_options.backoff_max = o.backoff_max;

  std::unique_ptr<net::TlsReloader> reloader;
  std::unique_ptr<agent::CredentialManager> credentials;
  std::atomic<int> exit_code{0};
  if (files_tls) {
    auto metrics = state->metrics;
    metrics->certificateExpiry(files_tls->notAfter());
    reloader = std::make_unique<net::TlsReloader>(
        std::vector<std::shared_ptr<net::TlsSource>>{files_tls}, o.tls_reload_interval,
        [metrics](const net::TlsSource& source, bool ok) {
          metrics->tlsReload(ok);
          if (ok) metrics->certificateExpiry(source.notAfter());
        });
    tunnel_options.tls = files_tls;
    asio::co_spawn(io, agent::runTunnelClient(tunnel_options, upstream, state), asio::detached);
  } else {
    agent::EnrolmentOptions eo;
    eo.cluster = o.cluster;
    eo.metaserver_url = o.metaserver_url;
    eo.metaserver_tls.ca_file = o.metaserver_ca;
    eo.bootstrap_token = o.bootstrap_token;
    eo.hub_ca_file = o.hub_ca;
    state->enrolling = true;
    credentials = std::make_unique<agent::CredentialManager>(eo, std::move(store), state->metrics);
    auto up = upstream;
    credentials->start(
        [&io, tunnel_options, up, state](std::shared_ptr<net::TlsSource> source) {
          agent::TunnelClientOptions to = tunnel_options;
          to.tls = std::move(source);
          asio::post(io, [&io, to, up, state] {
            state->enrolling = false;
            asio::co_spawn(io, agent::runTunnelClient(to, up, state), asio::detached);
          });
        },
        [&io, &exit_code](absl::Status s) {
          log::error("the agent has no certificate and cannot get one; stopping",
                     {{"error", s.message()}});
          std::fprintf(stderr, "kubehub-agent: error: %.*s\n", static_cast<int>(s.message().size()),
                       s.message().data());
          exit_code = 1;
          io.stop();
        });
  }

  net::runIoContext(io, 1, [&io] { io.stop(); });
  credentials.reset();
  log::info("agent stopped");
  return exit_code.load();
}
