#include "agent/agent_server.h"

#include <openssl/pem.h>
#include <openssl/x509.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/str_join.h"
#include "agent/commands/command_config.h"
#include "agent/dialer/hubs_message.h"
#include "agent/dialer/tunnel_client.h"
#include "agent/enrol/credential_manager.h"
#include "agent/enrol/credential_store.h"
#include "agent/forward/upstream_client.h"
#include "agent/kube/kube_target.h"
#include "common/k8s/validation.h"
#include "common/log/log.h"
#include "common/net/admin_server.h"
#include "common/net/server_main.h"
#include "common/net/task_group.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"

namespace kubehub::agent {

namespace asio = boost::asio;

namespace {

/// Never two cluster status reports on one tunnel closer than this.
constexpr std::chrono::seconds kStatusMinInterval{10};
constexpr const char* kServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount";

std::string trimmed(std::string s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.pop_back();
  size_t start = 0;
  while (start < s.size() && std::isspace(static_cast<unsigned char>(s[start]))) ++start;
  return s.substr(start);
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

}  // namespace

absl::Status AgentOptions::validate() const {
  log::Level level;
  if (!log::parseLevel(log_level, &level)) {
    return absl::InvalidArgumentError("--log-level must be debug, info, warn or error");
  }
  if (mode != "kubernetes" && mode != "native") {
    return absl::InvalidArgumentError("--mode must be kubernetes or native, got \"" + mode + "\"");
  }
  if (native()) {
    // Refused rather than ignored: each of them says the operator expects an API server.
    const std::pair<const char*, const std::string*> api_server_flags[] = {
        {"kubeconfig", &kubeconfig},
        {"context", &context},
        {"credentials-secret", &credentials_secret},
        {"namespace", &ns}};
    for (const auto& [flag, value] : api_server_flags) {
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
    auto canonical = canonicalTunnelUrl(url);
    if (!canonical.ok()) {
      return absl::InvalidArgumentError("--hub-url: " + std::string(canonical.status().message()));
    }
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
          "--metaserver-url must be an https:// (or http://) URL, got \"" + metaserver_url + "\"");
    }
    if (!credentials_secret.empty() && !k8s::isDnsSubdomain(credentials_secret)) {
      return absl::InvalidArgumentError("--credentials-secret must be a Secret name, got \"" +
                                        credentials_secret + "\"");
    }
    if (!bootstrap_token.empty() && !bootstrap_token_file.empty()) {
      return absl::InvalidArgumentError(
          "give --bootstrap-token-file or KUBEHUB_BOOTSTRAP_TOKEN, not both");
    }
    if (!ns.empty() && !native() && !k8s::isDnsLabel(ns))
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
  if (!cluster.empty() && !k8s::isDnsLabel(cluster))
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
  if (upstream_idle_timeout < std::chrono::seconds(1)) {
    return absl::InvalidArgumentError("--upstream-idle-timeout must be at least 1s");
  }
  if (upstream_max_idle < 0 || upstream_max_idle > 4096) {
    return absl::InvalidArgumentError("--upstream-max-idle must be between 0 and 4096");
  }
  if (auto hp = net::parseHostPort(admin_listen); !hp.ok()) return hp.status();
  return absl::OkStatus();
}

absl::StatusOr<AgentOptions> AgentOptions::resolved() const {
  if (absl::Status s = validate(); !s.ok()) return s;
  AgentOptions o = *this;
  o.hubs.clear();
  for (const auto& url : o.hub_urls) {
    auto canonical = canonicalTunnelUrl(url);
    if (!canonical.ok()) return canonical.status();  // validate() saw to it
    if (std::find(o.hubs.begin(), o.hubs.end(), *canonical) == o.hubs.end())
      o.hubs.push_back(*canonical);
  }
  if (o.enrolling()) {
    while (!o.metaserver_url.empty() && o.metaserver_url.back() == '/') o.metaserver_url.pop_back();
    if (!o.bootstrap_token_file.empty()) {
      auto text = readText(o.bootstrap_token_file);
      if (!text) {
        return absl::InvalidArgumentError("--bootstrap-token-file \"" + o.bootstrap_token_file +
                                          "\" cannot be read");
      }
      o.bootstrap_token = trimmed(*text);
    }
    o.bootstrap_token = trimmed(o.bootstrap_token);
    if (o.ns.empty() && !o.native()) {
      auto text = readText(std::string(kServiceAccountDir) + "/namespace");
      o.ns = text ? trimmed(*text) : "default";
    }
    if (!o.native() && !k8s::isDnsLabel(o.ns))
      return absl::InvalidArgumentError("--namespace must be a DNS label, got \"" + o.ns + "\"");
  }
  if (o.cluster.empty()) o.cluster = certificateFileCn(o.tls_cert);
  if (o.cluster.empty())
    return absl::InvalidArgumentError("--cluster is required (the certificate names no cluster)");
  if (!k8s::isDnsLabel(o.cluster))
    return absl::InvalidArgumentError("--cluster must be a DNS label, got \"" + o.cluster + "\"");
  return o;
}

/// What the agent is made of, in the order it is built (destroyed in reverse).
struct AgentServer::Parts {
  AgentOptions o;
  std::string version, build;
  asio::io_context io{1};
  std::shared_ptr<AgentState> state = std::make_shared<AgentState>();
  std::shared_ptr<UpstreamClient> upstream;
  std::unique_ptr<net::AdminServer> admin;
  std::unique_ptr<net::TlsReloader> reloader;
  std::unique_ptr<CredentialManager> credentials;
  std::atomic<int> exit_code{0};
  std::atomic<bool> stopping{false};
  // The status reporter and the tunnel clients.
  net::TaskGroup tasks{"agent"};

  absl::StatusOr<net::HostPort> start();
  static asio::awaitable<void> finishStop(Parts* p);
};

AgentServer::AgentServer(AgentOptions options, std::string version, std::string build)
    : parts_(std::make_unique<Parts>()) {
  parts_->o = std::move(options);
  parts_->version = std::move(version);
  parts_->build = std::move(build);
}

AgentServer::~AgentServer() {
  if (parts_) parts_->credentials.reset();
}

absl::StatusOr<net::HostPort> AgentServer::start() { return parts_->start(); }

int AgentServer::run(std::function<void()> on_signal) {
  net::runIoContext(parts_->io, 1, std::move(on_signal));
  parts_->credentials.reset();
  return parts_->exit_code.load();
}

// Once the tasks have ended (at most 15 s): the admin endpoint and the context stop.
asio::awaitable<void> AgentServer::Parts::finishStop(Parts* p) {
  // A named local, not a co_await inside the condition: GCC 12 miscompiles that here.
  bool ended = co_await p->tasks.asyncWait(std::chrono::seconds(15));
  if (!ended) log::warn("agent tasks still running at exit", {{"tasks", p->tasks.size()}});
  if (p->admin) p->admin->stop();
  p->io.stop();
}

// Any thread. The tunnels leave their hubs first (runTunnelClient, on cancellation: at most
// 12 s), then the context stops; a second signal stops it at once (runIoContext).
void AgentServer::stop() {
  Parts* p = parts_.get();
  if (p->stopping.exchange(true)) return;
  asio::post(p->io, [p] {
    p->tasks.stop();
    asio::co_spawn(p->io, Parts::finishStop(p), asio::detached);
  });
}

absl::StatusOr<net::HostPort> AgentServer::Parts::start() {
  auto admin_listen = net::parseHostPort(o.admin_listen);
  if (!admin_listen.ok()) return admin_listen.status();
  std::shared_ptr<const CommandSet> commands;
  if (!o.commands_file.empty()) {
    auto loaded = CommandSet::load(o.commands_file);
    if (!loaded.ok()) return loaded.status();
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
    if (!source.ok()) return source.status();
    files_tls = *source;
  } else if (!o.hub_ca.empty()) {
    // Checked now rather than after enrolment has spent the token.
    net::ClientTlsOptions check;
    check.ca_file = o.hub_ca;
    if (auto ctx = net::makeClientContext(check); !ctx.ok()) return ctx.status();
  }

  std::optional<KubeTarget> target;
  if (!o.native()) {
    auto loaded = o.kubeconfig.empty()
                      ? loadInCluster(
                            [](const char* name) -> std::optional<std::string> {
                              const char* v = std::getenv(name);
                              return v ? std::optional<std::string>(v) : std::nullopt;
                            },
                            kServiceAccountDir)
                      : loadKubeconfig(o.kubeconfig, o.context);
    if (!loaded.ok()) return loaded.status();
    target = std::move(*loaded);
  }
  std::unique_ptr<CredentialStore> store;
  if (!o.credentials_dir.empty()) {
    store = makeDirectoryStore(o.credentials_dir);
  } else if (!o.credentials_secret.empty()) {
    auto secret = makeSecretStore(*target, o.ns, o.credentials_secret);
    if (!secret.ok()) return secret.status();
    store = std::move(*secret);
  }

  UpstreamOptions upstream_options;
  upstream_options.response_timeout = o.response_timeout;
  upstream_options.idle_connection_timeout = o.upstream_idle_timeout;
  upstream_options.max_idle_connections = static_cast<size_t>(o.upstream_max_idle);
  std::string api = target ? target->server.host + ":" + std::to_string(target->server.port)
                           : std::string("none (native mode)");
  std::string source = target ? target->source : std::string("none");
  upstream_options.metrics = state->metrics;
  state->commands = std::make_shared<CommandService>(commands, state->metrics);
  // A host agent has no upstream: its tunnels refuse every API server path.
  if (target) {
    auto created = UpstreamClient::create(io.get_executor(), std::move(*target), upstream_options);
    if (!created.ok()) return created.status();
    upstream = *created;
  } else {
    // Nothing to reach: ready once a tunnel is up.
    state->api_reachable = true;
    state->metrics->apiReachable(true);
  }
  if (o.status_interval.count() > 0) {
    StatusReporterOptions so;
    so.interval = o.status_interval;
    so.check_interval = o.status_check_interval;
    so.min_interval = kStatusMinInterval;
    so.agent_version = version;
    so.agent_build = build;
    so.host = o.native();
    so.host_disk_path = o.host_disk_path;
    state->status = std::make_shared<StatusReporter>(so);
    tasks.spawn(io.get_executor(), StatusReporter::run(state->status, upstream));
  }

  net::AdminRoutes admin_routes;
  admin_routes.readiness = [this, state = state] {
    if (stopping.load()) return net::Readiness::waiting("stopping");
    bool tunnel_up = state->tunnels_up > 0;
    if (tunnel_up && state->api_reachable) return net::Readiness::ok();
    std::vector<std::string> why;
    if (state->enrolling) why.emplace_back("waiting for a certificate from the metaserver");
    if (!tunnel_up) why.emplace_back("no tunnel to any hub");
    if (!state->api_reachable) why.emplace_back("API server not reached yet");
    return net::Readiness::waiting(absl::StrJoin(why, "; "));
  };
  admin_routes.metrics = [state = state] { return state->metrics->serialize(); };
  admin = std::make_unique<net::AdminServer>(io, std::move(admin_routes));
  auto admin_bound = admin->start(*admin_listen);
  if (!admin_bound.ok()) return admin_bound.status();
  const std::string client_certificate =
      o.enrolling() ? "enrolled, kept in " + store->describe() : "files " + o.tls_cert;
  log::info("agent started", {{"cluster", o.cluster},
                              {"version", version},
                              {"build", build},
                              {"mode", o.mode},
                              {"api_server", api},
                              {"credentials", source},
                              {"client_certificate", client_certificate},
                              {"hubs", absl::StrJoin(o.hubs, ",")},
                              {"hub_connections", o.hub_connections}});

  TunnelClientOptions tunnel_options;
  tunnel_options.hubs = o.hubs;
  tunnel_options.connections = static_cast<int>(o.hub_connections);
  tunnel_options.cluster = o.cluster;
  tunnel_options.agent_version = version;
  tunnel_options.host = o.native();
  tunnel_options.backoff_base = o.backoff_base;
  tunnel_options.backoff_max = o.backoff_max;

  if (files_tls) {
    auto metrics = state->metrics;
    metrics->certificateExpiry(files_tls->notAfter());
    reloader = std::make_unique<net::TlsReloader>(
        std::vector<std::shared_ptr<net::TlsSource>>{files_tls}, o.tls_reload_interval,
        [metrics](const net::TlsSource& tls, bool ok) {
          metrics->tlsReload(ok);
          if (ok) metrics->certificateExpiry(tls.notAfter());
        });
    tunnel_options.tls = files_tls;
    tasks.spawn(io.get_executor(), runTunnelClient(tunnel_options, upstream, state));
  } else {
    EnrolmentOptions eo;
    eo.cluster = o.cluster;
    eo.metaserver_url = o.metaserver_url;
    eo.metaserver_tls.ca_file = o.metaserver_ca;
    eo.bootstrap_token = o.bootstrap_token;
    eo.hub_ca_file = o.hub_ca;
    state->enrolling = true;
    credentials = std::make_unique<CredentialManager>(eo, std::move(store), state->metrics);
    credentials->start(
        [this, tunnel_options](std::shared_ptr<net::TlsSource> tls) {
          TunnelClientOptions to = tunnel_options;
          to.tls = std::move(tls);
          asio::post(io, [this, to] {
            state->enrolling = false;
            tasks.spawn(io.get_executor(), runTunnelClient(to, upstream, state));
          });
        },
        [this](absl::Status s) {
          log::error("the agent has no certificate and cannot get one; stopping",
                     {{"error", s.message()}});
          std::fprintf(stderr, "kubehub-agent: error: %.*s\n", static_cast<int>(s.message().size()),
                       s.message().data());
          exit_code = 1;
          io.stop();
        });
  }
  return *admin_bound;
}

}  // namespace kubehub::agent
