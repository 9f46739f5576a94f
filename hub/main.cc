// kubehub-hub: parses options and wires the tunnel listener, the users' endpoint and the admin
// endpoint together. Everything else lives in hub/ libraries that tests share.
#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "common/config/flags.h"
#include "common/config/secret_file.h"
#include "common/log/log.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/tls.h"
#include "common/tunnel/ws_transport.h"
#include "hub/api/user_server.h"
#include "hub/auth/hub_credentials.h"
#include "hub/auth/token_file.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/peer/peer_links.h"
#include "hub/peer/peer_server.h"
#include "hub/tunnel/agent_session.h"
#include "hub/tunnel/status_forwarder.h"
#include "hub/tunnel/tunnel_mover.h"
#include "hub/tunnel/tunnel_registry.h"

namespace asio = boost::asio;
using namespace kubehub;

namespace {

constexpr const char* kVersion = "0.1.0";

struct Options {
  std::string listen = "0.0.0.0:8443";
  std::string tunnel_listen = "0.0.0.0:8444";
  std::string admin_listen = "0.0.0.0:9090";
  std::string tls_cert, tls_key;
  std::string tunnel_tls_cert, tunnel_tls_key;
  std::string agent_ca;
  std::string peer_listen;
  std::string peer_tls_cert, peer_tls_key, peer_ca;
  std::chrono::milliseconds tls_reload_interval{10000};
  std::chrono::milliseconds drain_timeout{30000};
  double drain_rate = 100;
  double rebalance_rate = 2;
  int64_t drain_rate_milli = 100000;
  int64_t rebalance_rate_milli = 2000;
  std::chrono::milliseconds rebalance_settle{30000};
  std::string token_file;
  std::string metaserver_url, metaserver_token_file, metaserver_ca;
  std::string audit_log = "-";
  int64_t audit_log_max_bytes = 100ll << 20;
  int64_t audit_log_max_files = 5;
  double tenant_rate = 0;
  int64_t tenant_rate_milli = 500000;
  int64_t tenant_burst = 1000;
  std::string advertise_host;
  std::string advertise_tunnel_url;
  std::string hub_id;
  std::string log_level = "info";
  int64_t threads = 0;
  int64_t tunnel_threads = 0;
  std::chrono::milliseconds response_timeout{60000};
  std::chrono::milliseconds write_timeout{60000};
  std::chrono::milliseconds idle_timeout{120000};
  std::chrono::milliseconds handshake_timeout{10000};
  int64_t max_connections = -1;  // auto: 10,000, or half the descriptor limit if lower
  int64_t max_connections_per_client = 1000;
  int64_t max_long_streams_per_user = -1;
  int64_t max_long_streams_per_tenant = -1;
  int64_t max_requests_per_user = -1;
  int64_t max_requests_per_tenant = -1;
  std::chrono::milliseconds ping_interval{15000};
  std::chrono::milliseconds tunnel_idle_timeout{45000};
  int64_t stream_window = 256 * 1024;
  int64_t max_streams = 1024;
  std::string cache_resources;
  int64_t cache_max_bytes = 512ll << 20;
  int64_t cache_window = 10000;
  int64_t cache_window_bytes = 0;
  std::chrono::milliseconds cache_bookmark_interval{60000};
  std::chrono::milliseconds cache_consistency_timeout{100};

  absl::Status validate() {
    if (tls_cert.empty() || tls_key.empty()) {
      return absl::InvalidArgumentError(
          "--tls-cert and --tls-key are required (the users' HTTPS endpoint)");
    }
    if (agent_ca.empty() && metaserver_url.empty()) {
      return absl::InvalidArgumentError(
          "--agent-ca is required without --metaserver-url (the CA that signs agents' client "
          "certificates; with the metaserver, its tunnel CA is the default)");
    }
    if (token_file.empty() && metaserver_url.empty()) {
      return absl::InvalidArgumentError(
          "users need a way in: give --metaserver-url (tokens issued by the metaserver) and/or "
          "--token-file (static break-glass tokens)");
    }
    if (!peer_listen.empty()) {
      if (metaserver_url.empty()) {
        return absl::InvalidArgumentError(
            "--peer-listen needs --metaserver-url: hubs find each other in its registry");
      }
      if (peer_tls_cert.empty() != peer_tls_key.empty()) {
        return absl::InvalidArgumentError(
            "--peer-tls-cert and --peer-tls-key go together; give neither and the hub enrols its "
            "own peer certificate with the metaserver");
      }
    }
    if (!advertise_tunnel_url.empty() && advertise_tunnel_url != "none") {
      auto url = net::parseUrl(advertise_tunnel_url);
      if (!url.ok() || !advertise_tunnel_url.starts_with("wss://")) {
        return absl::InvalidArgumentError("--advertise-tunnel-url \"" + advertise_tunnel_url +
                                          "\" is not a wss:// URL (or \"none\")");
      }
    }
    if (!metaserver_url.empty() && metaserver_token_file.empty()) {
      return absl::InvalidArgumentError(
          "--metaserver-token-file is required with --metaserver-url (a token of a user with the "
          "hub role)");
    }
    if (drain_rate_milli < 1 || rebalance_rate_milli < 0 ||
        drain_timeout < std::chrono::milliseconds(0)) {
      return absl::InvalidArgumentError(
          "--drain-rate-milli must be >= 1, --rebalance-rate-milli and --drain-timeout >= 0");
    }
    drain_rate = static_cast<double>(drain_rate_milli) / 1000.0;
    rebalance_rate = static_cast<double>(rebalance_rate_milli) / 1000.0;
    if (tenant_rate_milli < 0 || tenant_burst < 1) {
      return absl::InvalidArgumentError("--tenant-rate must be >= 0 and --tenant-burst >= 1");
    }
    tenant_rate = static_cast<double>(tenant_rate_milli) / 1000.0;
    if (tunnel_tls_cert.empty()) tunnel_tls_cert = tls_cert;
    if (tunnel_tls_key.empty()) tunnel_tls_key = tls_key;
    if (threads <= 0) threads = net::usableCpus();
    if (threads > 256) return absl::InvalidArgumentError("--threads must be at most 256");
    if (tunnel_threads < 0 || tunnel_threads > 256)
      return absl::InvalidArgumentError("--tunnel-threads must be between 0 and 256");
    if (hub_id.empty()) {
      char host[256] = {0};
      gethostname(host, sizeof(host) - 1);
      hub_id = host;
    }
    if (stream_window < 32 * 1024 || stream_window > (1 << 30)) {
      return absl::InvalidArgumentError("--stream-window must be between 32768 and 1073741824");
    }
    if (max_streams < 1 || max_streams > 65536) {
      return absl::InvalidArgumentError("--max-streams must be between 1 and 65536");
    }
    if (write_timeout.count() < 100 || idle_timeout.count() < 100 ||
        handshake_timeout.count() < 100) {
      return absl::InvalidArgumentError(
          "--write-timeout, --idle-timeout and --handshake-timeout must be at least 100ms");
    }
    if (max_connections < -1 || max_connections_per_client < 0) {
      return absl::InvalidArgumentError(
          "--max-connections and --max-connections-per-client must be >= 0 (0: no limit)");
    }
    // Defaults: shares of --max-streams, so one user or one tenant never holds the whole tunnel.
    for (auto [value, share] :
         {std::pair{&max_long_streams_per_user, 8}, std::pair{&max_long_streams_per_tenant, 2},
          std::pair{&max_requests_per_user, 4}, std::pair{&max_requests_per_tenant, 2}}) {
      if (*value < 0) *value = std::max<int64_t>(1, max_streams / share);
    }
    if (max_long_streams_per_user > max_streams || max_long_streams_per_tenant > max_streams ||
        max_requests_per_user > max_streams || max_requests_per_tenant > max_streams) {
      return absl::InvalidArgumentError(
          "--max-long-streams-per-user/-tenant and --max-requests-per-user/-tenant must not "
          "exceed --max-streams (0: no limit)");
    }
    if (ping_interval.count() < 100)
      return absl::InvalidArgumentError("--ping-interval must be at least 100ms");
    if (tunnel_idle_timeout < 2 * ping_interval) {
      return absl::InvalidArgumentError(
          "--tunnel-idle-timeout must be at least twice --ping-interval");
    }
    if (cache_max_bytes < 0 || cache_window < 1 || cache_window_bytes < 0) {
      return absl::InvalidArgumentError(
          "--cache-max-bytes and --cache-window-bytes must be >= 0, --cache-window >= 1");
    }
    if (cache_max_bytes > 0 && cache_window_bytes > cache_max_bytes) {
      return absl::InvalidArgumentError(
          "--cache-window-bytes must not exceed --cache-max-bytes (the window counts against "
          "the cluster's budget)");
    }
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  config::FlagSet flags("kubehub-hub",
                        "The kubehub hub: terminates agents' tunnels and serves users' Kubernetes "
                        "requests at https://HUB/clusters/CLUSTER/...");
  flags.addString("listen", &o.listen, "HOST:PORT of the users' HTTPS endpoint (port 0: any)");
  flags.addString("tunnel-listen", &o.tunnel_listen,
                  "HOST:PORT where agents connect (mTLS WebSocket)");
  flags.addString("admin-listen", &o.admin_listen, "HOST:PORT for /healthz, /readyz, /metrics");
  flags.addString("tls-cert", &o.tls_cert, "PEM certificate (chain) of the users' endpoint");
  flags.addString("tls-key", &o.tls_key, "PEM private key of the users' endpoint");
  flags.addString("tunnel-tls-cert", &o.tunnel_tls_cert,
                  "PEM certificate of the tunnel listener (default: --tls-cert)");
  flags.addString("tunnel-tls-key", &o.tunnel_tls_key,
                  "PEM key of the tunnel listener (default: --tls-key)");
  flags.addString("agent-ca", &o.agent_ca,
                  "PEM CA bundle that signs agents' client certificates (default with "
                  "--metaserver-url: the metaserver's tunnel CA, fetched at start and refreshed)");
  flags.addString("peer-listen", &o.peer_listen,
                  "HOST:PORT where other hubs of the fleet connect (mTLS WebSocket) to reach the "
                  "clusters whose tunnels this hub holds; empty: no peering (requests for clusters "
                  "on other hubs get 503)");
  flags.addString("peer-tls-cert", &o.peer_tls_cert,
                  "PEM hub certificate (O=kubehub:hubs, CN=--hub-id) for peer links, both ways "
                  "(default: the hub makes its own key and enrols a certificate with the "
                  "metaserver, renewed two thirds into its lifetime)");
  flags.addString("peer-tls-key", &o.peer_tls_key, "PEM key of --peer-tls-cert");
  flags.addString("peer-ca", &o.peer_ca,
                  "PEM CA bundle that signs hub certificates (default: --agent-ca, or the "
                  "metaserver's tunnel CA)");
  flags.addDuration("tls-reload-interval", &o.tls_reload_interval,
                    "how often certificate, key and CA files are checked for changes; changed "
                    "ones are used by new connections, open ones keep theirs (0: never)");
  flags.addDuration(
      "drain-timeout", &o.drain_timeout,
      "with --peer-listen: on SIGTERM, how long the hub waits for its agents to move to "
      "other hubs before it exits (0: exit at once; a second signal exits at once)");
  flags.addInt("drain-rate-milli", &o.drain_rate_milli,
               "agents asked to move per 1000 s while draining (default 100,000: 100 per second)");
  flags.addInt("rebalance-rate-milli", &o.rebalance_rate_milli,
               "agents asked to move per 1000 s while this hub holds more than its share of the "
               "fleet's tunnels (default 2,000: 2 per second; 0: never)");
  flags.addDuration("rebalance-settle", &o.rebalance_settle,
                    "a tunnel younger than this is never asked to move to rebalance the fleet");
  flags.addString("token-file", &o.token_file,
                  "static break-glass bearer tokens, CSV: token,user,uid,\"group1,group2\" (not "
                  "limited by grants)");
  flags.addString("metaserver-url", &o.metaserver_url,
                  "the metaserver (tokens, grants, registry), https://HOST:PORT");
  flags.addString("metaserver-token-file", &o.metaserver_token_file,
                  "file holding this hub's metaserver token (hub role)");
  flags.addString("metaserver-ca", &o.metaserver_ca,
                  "PEM CA bundle of the metaserver's certificate (default: system roots)");
  flags.addString("audit-log", &o.audit_log,
                  "audit log: - for stdout, a file path (rotated by size), or empty for none");
  flags.addInt("audit-log-max-bytes", &o.audit_log_max_bytes,
               "rotate the audit log file beyond this size");
  flags.addInt("audit-log-max-files", &o.audit_log_max_files, "rotated audit log files kept");
  flags.addInt("tenant-rate-milli", &o.tenant_rate_milli,
               "requests per 1000 seconds each tenant may make (0: unlimited)");
  flags.addInt("tenant-burst", &o.tenant_burst, "requests a tenant may make in a burst");
  flags.addString("advertise-host", &o.advertise_host,
                  "host name other components reach this hub at (default: the hub id)");
  flags.addString(
      "advertise-tunnel-url", &o.advertise_tunnel_url,
      "the URL agents reach this very hub's tunnel listener at, announced to agents so they "
      "spread over the fleet's hubs, e.g. wss://$(POD_NAME).tunnel.example.com/tunnel (default: "
      "wss://--advertise-host:PORT/tunnel); \"none\": agents outside can reach hubs only "
      "through their own --hub-url (a load balancer), so nothing is announced");
  flags.addString("hub-id", &o.hub_id,
                  "this hub's identity in logs, the protocol and the metaserver's registry; with "
                  "--metaserver-url it must be the name of the token's user (default: hostname)");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addInt(
      "threads", &o.threads,
      "I/O threads for users' connections (default: one per CPU this process may use: its affinity "
      "and cgroup CPU limit)");
  flags.addInt(
      "tunnel-threads", &o.tunnel_threads,
      "I/O threads for agents' tunnels alone (default 0: tunnels share the users' "
      "threads). Apart, the kernel keeps tunnel traffic from delaying users' cached reads; "
      "on 2 cores it cost ~7% of forwarded throughput");
  flags.addDuration("response-timeout", &o.response_timeout,
                    "how long to wait for an edge's response head");
  flags.addDuration("write-timeout", &o.write_timeout,
                    "a write to a user's connection that makes no progress for this long drops "
                    "the client (streams themselves last as long as both sides keep them)");
  flags.addDuration("idle-timeout", &o.idle_timeout,
                    "an idle keep-alive connection, or a request body that stops arriving, is "
                    "closed after this");
  flags.addDuration("handshake-timeout", &o.handshake_timeout,
                    "time a user's connection has to complete its TLS handshake");
  flags.addInt("max-connections", &o.max_connections,
               "users' connections held at once (0: no limit); more are closed at accept "
               "(default: 10000, or half the process's descriptor limit if that is lower, so "
               "tunnels and the metaserver always have descriptors left)");
  flags.addInt("max-connections-per-client", &o.max_connections_per_client,
               "users' connections held at once from one client address (0: no limit)");
  flags.addInt("max-long-streams-per-user", &o.max_long_streams_per_user,
               "watches, followed logs, exec, attach and port-forwards one user may hold through "
               "one cluster's tunnel (default: --max-streams/8; 0: no limit)");
  flags.addInt("max-long-streams-per-tenant", &o.max_long_streams_per_tenant,
               "the same for all users of one tenant (default: --max-streams/2; 0: no limit)");
  flags.addInt("max-requests-per-user", &o.max_requests_per_user,
               "other requests one user may have in flight through one cluster's tunnel "
               "(default: --max-streams/4; 0: no limit)");
  flags.addInt("max-requests-per-tenant", &o.max_requests_per_tenant,
               "the same for all users of one tenant (default: --max-streams/2; 0: no limit)");
  flags.addDuration("ping-interval", &o.ping_interval, "tunnel heartbeat interval");
  flags.addDuration("tunnel-idle-timeout", &o.tunnel_idle_timeout,
                    "a tunnel with no traffic for this long is dropped");
  flags.addInt("stream-window", &o.stream_window, "per-stream flow-control window in bytes");
  flags.addInt("max-streams", &o.max_streams, "concurrent streams per tunnel");
  flags.addString("cache-resources", &o.cache_resources,
                  "types answered from the hub cache: resource[.group],... (default: read-heavy "
                  "built-ins, never secrets; \"none\" disables the cache)");
  flags.addInt("cache-max-bytes", &o.cache_max_bytes,
               "memory budget of each cluster's cache in bytes: current objects plus the event "
               "windows' history (old versions, deleted objects). Over it, the largest type falls "
               "back to forwarding and its memory is released (0: no budget)");
  flags.addInt("cache-window", &o.cache_window,
               "recent events kept per type for watches resuming from a resourceVersion; a watch "
               "from an older one gets 410 Gone and relists");
  flags.addInt("cache-window-bytes", &o.cache_window_bytes,
               "bytes of history each type's event window may hold (old versions and deleted "
               "objects; versions still current are shared with the cache, counted once); the "
               "oldest events go first (0: a quarter of --cache-max-bytes)");
  flags.addDuration("cache-bookmark-interval", &o.cache_bookmark_interval,
                    "bookmark cadence of watches served from the cache");
  flags.addDuration(
      "cache-consistency-timeout", &o.cache_consistency_timeout,
      "how long a read waits for the cache to catch up with the edge before it is forwarded");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError("kubehub-hub", s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError("kubehub-hub",
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  log::Level level;
  if (!log::parseLevel(o.log_level, &level)) {
    net::exitWithConfigError("kubehub-hub", absl::InvalidArgumentError(
                                                "--log-level must be debug, info, warn or error"));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError("kubehub-hub", s);
  log::init("hub", level);

  auto listen = net::parseHostPort(o.listen);
  auto tunnel_listen = net::parseHostPort(o.tunnel_listen);
  auto admin_listen = net::parseHostPort(o.admin_listen);
  auto peer_listen = net::parseHostPort(o.peer_listen.empty() ? "127.0.0.1:0" : o.peer_listen);
  for (auto* a : {&listen, &tunnel_listen, &admin_listen, &peer_listen}) {
    if (!a->ok()) net::exitWithConfigError("kubehub-hub", a->status());
  }
  std::shared_ptr<const hub::StaticTokenAuthenticator> static_tokens;
  if (!o.token_file.empty()) {
    auto tokens = hub::StaticTokenAuthenticator::loadFile(o.token_file);
    if (!tokens.ok()) net::exitWithConfigError("kubehub-hub", tokens.status());
    static_tokens = std::make_shared<const hub::StaticTokenAuthenticator>(std::move(*tokens));
  }
  auto audit_log = hub::AuditLog::open(
      o.audit_log, static_cast<size_t>(std::max<int64_t>(o.audit_log_max_bytes, 0)),
      static_cast<int>(o.audit_log_max_files));
  if (!audit_log.ok()) net::exitWithConfigError("kubehub-hub", audit_log.status());
  std::shared_ptr<hub::AuditLog> audit(std::move(*audit_log));
  // The hub's metaserver token, read again when its file changes (a rotated Secret).
  std::shared_ptr<config::SecretFile> metaserver_token;
  std::function<std::string()> token_source;
  if (!o.metaserver_url.empty()) {
    auto token = config::SecretFile::open(o.metaserver_token_file, "--metaserver-token-file");
    if (!token.ok()) net::exitWithConfigError("kubehub-hub", token.status());
    metaserver_token = *token;
    token_source = [metaserver_token] { return metaserver_token->value(); };
    if (!net::parseUrl(o.metaserver_url).ok()) {
      net::exitWithConfigError(
          "kubehub-hub",
          absl::InvalidArgumentError("--metaserver-url \"" + o.metaserver_url + "\" is not a URL"));
    }
  }

  // TLS material: files reloaded when they change; the agents' CA and the peer certificate from
  // the metaserver when not given as files.
  hub::HubCredentialOptions credential_options;
  credential_options.hub_id = o.hub_id;
  credential_options.tls_cert = o.tls_cert;
  credential_options.tls_key = o.tls_key;
  credential_options.tunnel_tls_cert = o.tunnel_tls_cert;
  credential_options.tunnel_tls_key = o.tunnel_tls_key;
  credential_options.agent_ca = o.agent_ca;
  credential_options.peer_enabled = !o.peer_listen.empty();
  credential_options.peer_tls_cert = o.peer_tls_cert;
  credential_options.peer_tls_key = o.peer_tls_key;
  credential_options.peer_ca = o.peer_ca;
  credential_options.metaserver_url = o.metaserver_url;
  credential_options.metaserver_token_source = token_source;
  credential_options.metaserver_tls.ca_file = o.metaserver_ca;
  credential_options.reload_interval = o.tls_reload_interval;
  // Events before the metrics exist (the first enrolment) are not counted.
  auto credential_metrics = std::make_shared<std::atomic<std::shared_ptr<hub::HubMetrics>>>();
  hub::CredentialEvents credential_events;
  credential_events.reload = [credential_metrics](const net::TlsSource& source, bool ok) {
    if (auto m = credential_metrics->load()) m->tlsReload(source.name(), ok);
  };
  credential_events.enrolment = [credential_metrics](bool ok) {
    if (auto m = credential_metrics->load()) m->peerCertificateEnrolment(ok);
  };
  auto credentials = hub::HubCredentials::create(credential_options, credential_events);
  if (!credentials.ok()) net::exitWithConfigError("kubehub-hub", credentials.status());
  auto peer_server_tls = (*credentials)->peerServer();
  auto peer_client_tls = (*credentials)->peerClient();

  // One context per thread; `io` (the main one) runs listeners, timers and the admin server.
  net::IoPool pool(static_cast<int>(o.threads), static_cast<int>(o.tunnel_threads));
  asio::io_context& io = pool.main();
  auto policy = hub::cache::CachePolicy::parse(o.cache_resources);
  if (!policy.ok()) net::exitWithConfigError("kubehub-hub", policy.status());
  policy->max_bytes_per_cluster = static_cast<size_t>(std::max<int64_t>(o.cache_max_bytes, 0));
  policy->window_events = static_cast<size_t>(std::max<int64_t>(o.cache_window, 1));
  policy->window_max_bytes = static_cast<size_t>(o.cache_window_bytes);
  auto cache = std::make_shared<hub::cache::CacheRegistry>(*policy);
  auto registry = std::make_shared<hub::TunnelRegistry>();
  auto metrics = std::make_shared<hub::HubMetrics>(registry);
  metrics->setTlsSources((*credentials)->sources());
  credential_metrics->store(metrics);
  (*credentials)->start();
  metrics->setCache(cache);

  std::shared_ptr<hub::MetaserverSync> metaserver;
  if (!o.metaserver_url.empty()) {
    hub::MetaserverSyncOptions mo;
    mo.url = o.metaserver_url;
    mo.token_source = token_source;
    mo.tls.ca_file = o.metaserver_ca;
    mo.hub_id = o.hub_id;
    mo.version = kVersion;
    metaserver = std::make_shared<hub::MetaserverSync>(mo);
    // The metaserver takes registry reports only for the hub named like the token's user.
    absl::Status identity = metaserver->checkIdentity();
    if (absl::IsFailedPrecondition(identity)) net::exitWithConfigError("kubehub-hub", identity);
    if (!identity.ok()) {
      log::warn("could not ask the metaserver who this hub's token is; asking again later",
                {{"hub_id", o.hub_id}, {"error", identity.message()}});
    }
  }
  auto auth = std::make_shared<hub::Authenticator>(static_tokens, metaserver);
  auth->setMetrics(metrics);
  if (metaserver) metrics->setMetaserver(metaserver);
  std::shared_ptr<hub::RateLimiter> limiter;
  if (o.tenant_rate > 0)
    limiter =
        std::make_shared<hub::RateLimiter>(o.tenant_rate, static_cast<double>(o.tenant_burst));
  hub::AgentSessionOptions session_options;
  session_options.hub_id = o.hub_id;
  session_options.mux.ping_interval = o.ping_interval;
  session_options.mux.idle_timeout = o.tunnel_idle_timeout;
  session_options.mux.stream_window = static_cast<uint32_t>(o.stream_window);
  session_options.mux.connection_window =
      static_cast<uint32_t>(std::max<int64_t>(o.stream_window * 64, 16 << 20));
  session_options.mux.max_streams = static_cast<uint32_t>(o.max_streams);
  session_options.advertise_hubs = !o.peer_listen.empty();
  // With peering, agents may move between hubs: drain (admin or SIGTERM) and rebalancing.
  std::shared_ptr<hub::TunnelMover> mover;
  if (!o.peer_listen.empty() && metaserver) {
    hub::MoverOptions mover_options;
    mover_options.hub_id = o.hub_id;
    mover_options.drain_rate = o.drain_rate;
    mover_options.rebalance_rate = o.rebalance_rate;
    mover_options.settle = o.rebalance_settle;
    mover = std::make_shared<hub::TunnelMover>(registry, metaserver, mover_options, metrics);
    metrics->setMover(mover);
    session_options.mover = mover;
  }

  tunnel::TunnelListener tunnels(
      pool, (*credentials)->tunnel(),
      [registry, metrics, cache, &metaserver, session_options](std::unique_ptr<tunnel::Transport> t,
                                                               tunnel::TunnelPeer peer) {
        auto ex = t->executor();
        asio::co_spawn(ex,
                       hub::runAgentSession(registry, metrics, cache, metaserver, std::move(t),
                                            std::move(peer), session_options),
                       asio::detached);
      },
      std::chrono::seconds(10));
  hub::UserServerOptions user_options;
  user_options.response_timeout = o.response_timeout;
  user_options.write_timeout = o.write_timeout;
  user_options.idle_timeout = o.idle_timeout;
  user_options.handshake_timeout = o.handshake_timeout;
  // By default users may take at most half the descriptors: the rest stay for tunnels and the
  // metaserver. An explicit --max-connections is honoured, with a warning when it cannot be met.
  uint64_t descriptors = net::raiseDescriptorLimit();
  uint64_t users_max = 10000;
  if (o.max_connections >= 0) {
    users_max = static_cast<uint64_t>(o.max_connections);
    if (descriptors > 0 && (users_max == 0 || users_max > descriptors / 2)) {
      log::warn(
          "--max-connections leaves tunnels too few descriptors; past the descriptor "
          "limit new connections wait in the kernel's queue",
          {{"max_connections", users_max}, {"descriptor_limit", descriptors}});
    }
  } else if (descriptors > 0 && descriptors / 2 < users_max) {
    users_max = descriptors / 2;
  }
  user_options.max_connections = static_cast<size_t>(users_max);
  user_options.max_connections_per_client = static_cast<size_t>(o.max_connections_per_client);
  user_options.stream_quota.long_lived_per_user = static_cast<size_t>(o.max_long_streams_per_user);
  user_options.stream_quota.long_lived_per_tenant =
      static_cast<size_t>(o.max_long_streams_per_tenant);
  user_options.stream_quota.requests_per_user = static_cast<size_t>(o.max_requests_per_user);
  user_options.stream_quota.requests_per_tenant = static_cast<size_t>(o.max_requests_per_tenant);
  user_options.cache.bookmark_interval = o.cache_bookmark_interval;
  user_options.cache.consistency_timeout = o.cache_consistency_timeout;
  auto stream_quota = std::make_shared<hub::StreamQuota>(user_options.stream_quota);
  std::shared_ptr<hub::PeerLinks> peers;
  if (peer_client_tls) {
    peers = std::make_shared<hub::PeerLinks>(pool, peer_client_tls);
    metrics->setPeers(peers);
  }
  std::unique_ptr<tunnel::TunnelListener> peer_listener;
  if (peer_server_tls) {
    auto peer_deps = std::make_shared<hub::PeerServerDeps>();
    peer_deps->hub_id = o.hub_id;
    peer_deps->registry = registry;
    peer_deps->metaserver = metaserver;
    peer_deps->metrics = metrics;
    peer_deps->cache = cache;
    peer_deps->stream_quota = stream_quota;
    peer_deps->cache_options = user_options.cache;
    peer_deps->response_timeout = o.response_timeout;
    peer_deps->request_executor = [&pool] {
      return asio::any_io_executor(pool.next().get_executor());
    };
    peer_listener = std::make_unique<tunnel::TunnelListener>(
        pool, peer_server_tls,
        [peer_deps = std::shared_ptr<const hub::PeerServerDeps>(peer_deps)](
            std::unique_ptr<tunnel::Transport> t, tunnel::TunnelPeer peer) {
          auto ex = t->executor();
          asio::co_spawn(ex, hub::runPeerSession(peer_deps, std::move(t), std::move(peer)),
                         asio::detached);
        },
        std::chrono::seconds(10), tunnel::kPeerEndpoint);
  }
  hub::UserServerDeps deps;
  deps.peers = peers;
  deps.hub_id = o.hub_id;
  deps.stream_quota = stream_quota;
  deps.auth = auth;
  deps.registry = registry;
  deps.metaserver = metaserver;
  deps.metrics = metrics;
  deps.cache = cache;
  deps.audit = audit;
  deps.tenant_limiter = limiter;
  hub::UserServer users(pool, (*credentials)->users(), user_options, deps);

  std::atomic<bool> ready{false};
  std::atomic<bool> leaving{false};
  net::HttpServerOptions admin_options;
  admin_options.name = "admin";
  net::HttpServer admin(io, admin_options, [&](net::HttpRequest& req) -> net::HttpResponse {
    if (req.path == "/healthz" || req.path == "/livez") return {200, "text/plain", "ok\n", {}};
    if (req.path == "/readyz") {
      if (leaving.load()) return {503, "text/plain", "draining before exit\n", {}};
      if (!ready.load()) return {503, "text/plain", "starting\n", {}};
      if (metaserver && !metaserver->ready()) {
        return {503,
                "text/plain",
                "waiting for signing keys, grants and clusters from the metaserver: " +
                    metaserver->health() + "\n",
                {}};
      }
      if (peers && !metaserver->routes()->loaded) {
        // Until then it cannot tell a cluster on another hub from one on no hub.
        return {503,
                "text/plain",
                "waiting for the fleet's routing table from the metaserver: " +
                    metaserver->health() + "\n",
                {}};
      }
      if (metaserver && metaserver->health() != "ok") {
        // Still serving users with what it knows: ready, but say it is degraded.
        return {200, "text/plain", "ok (degraded: " + metaserver->health() + ")\n", {}};
      }
      return {200, "text/plain", "ok\n", {}};
    }
    if (req.path == "/metrics") return {200, "text/plain; version=0.0.4", metrics->serialize(), {}};
    if (req.path == "/debug/cache") {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& c : cache->all()) {
        for (const auto& t : c->state()) {
          list.push_back({{"cluster", c->cluster()},
                          {"resource", t.resource},
                          {"version", t.version},
                          {"synced", t.synced},
                          {"live", t.live},
                          {"objects", t.objects},
                          {"bytes", t.bytes},
                          {"windowBytes", t.window_bytes},
                          {"windowEvents", t.window_events},
                          {"resourceVersion", std::to_string(t.rv)}});
        }
      }
      return {200, "application/json", nlohmann::json{{"types", list}}.dump(), {}};
    }
    if (req.path == "/debug/peers") {
      nlohmann::json links = nlohmann::json::array();
      if (peers) {
        for (const auto& l : peers->snapshot()) {
          links.push_back({{"hub", l.hub},
                           {"url", l.url},
                           {"up", l.up},
                           {"streams", l.streams},
                           {"lastError", l.last_error}});
        }
      }
      nlohmann::json routes = nlohmann::json::object();
      if (metaserver) {
        auto table = metaserver->routes();
        for (const auto& [cluster, hubs] : table->clusters) routes[cluster] = hubs;
      }
      return {
          200, "application/json", nlohmann::json{{"links", links}, {"routes", routes}}.dump(), {}};
    }
    if (req.path == "/debug/clusters") {
      nlohmann::json list = nlohmann::json::array();
      for (const auto& t : registry->snapshot()) {
        nlohmann::json entry = {{"cluster", t.cluster},
                                {"kind", t.kind},
                                {"agentVersion", t.agent_version},
                                {"peer", t.peer},
                                {"streams", t.mux->streamCount()},
                                {"discovered", !t.discovery.empty()}};
        if (!t.discovery.empty()) entry["resources"] = t.discovered_types;
        if (t.status) entry["status"] = proto::statusReportJson(*t.status);
        list.push_back(entry);
      }
      return {200, "application/json", nlohmann::json{{"clusters", list}}.dump(), {}};
    }
    return net::jsonError(404, "not found");
  });

  auto tunnel_bound = tunnels.start(*tunnel_listen);
  if (!tunnel_bound.ok()) net::exitWithConfigError("kubehub-hub", tunnel_bound.status());
  auto user_bound = users.start(*listen);
  if (!user_bound.ok()) net::exitWithConfigError("kubehub-hub", user_bound.status());
  auto admin_bound = admin.start(*admin_listen);
  if (!admin_bound.ok()) net::exitWithConfigError("kubehub-hub", admin_bound.status());
  std::optional<net::HostPort> peer_bound;
  if (peer_listener) {
    auto bound = peer_listener->start(*peer_listen);
    if (!bound.ok()) net::exitWithConfigError("kubehub-hub", bound.status());
    peer_bound = *bound;
    log::info("peers listening", {{"address", peer_bound->str()}});
  }
  log::info("tunnel listening", {{"address", tunnel_bound->str()}});
  log::info("users listening", {{"address", user_bound->str()}});
  log::info("admin listening", {{"address", admin_bound->str()}});
  if (metaserver) {
    std::string host = o.advertise_host.empty() ? o.hub_id : o.advertise_host;
    auto advertise = [&](const net::HostPort& hp) {
      bool any = hp.host == "0.0.0.0" || hp.host == "::";
      return (any ? host : hp.host) + ":" + std::to_string(hp.port);
    };
    std::string tunnel_url = o.advertise_tunnel_url.empty()
                                 ? "wss://" + advertise(*tunnel_bound) + "/tunnel"
                             : o.advertise_tunnel_url == "none" ? std::string()
                                                                : o.advertise_tunnel_url;
    metaserver->setAddresses(
        "https://" + advertise(*user_bound), tunnel_url,
        peer_bound ? "wss://" + advertise(*peer_bound) + tunnel::kPeerPath : std::string());
    metaserver->start();
  }
  log::info("hub started", {{"hub_id", o.hub_id},
                            {"version", kVersion},
                            {"threads", o.threads},
                            {"tunnel_threads", o.tunnel_threads},
                            {"max_connections", user_options.max_connections},
                            {"descriptor_limit", descriptors},
                            {"static_tokens", static_tokens ? static_tokens->size() : 0},
                            {"metaserver", o.metaserver_url.empty() ? "none" : o.metaserver_url}});
  ready = true;

  // A cluster disabled (or deleted) in the metaserver loses its tunnel here, not only new ones.
  std::function<void()> police_tunnels;
  auto police_timer = std::make_shared<asio::steady_timer>(io);
  if (metaserver) {
    police_tunnels = [&, police_timer] {
      police_timer->expires_after(std::chrono::seconds(1));
      police_timer->async_wait([&](const boost::system::error_code& ec) {
        if (ec) return;
        auto snap = metaserver->snapshot();
        if (snap->clusters_loaded) {
          for (const auto& t : registry->snapshot()) {
            auto it = snap->clusters->find(t.cluster);
            if (it == snap->clusters->end() || it->second.disabled) {
              log::warn("closing the tunnel of a cluster the metaserver disabled or removed",
                        {{"cluster", t.cluster}});
              t.mux->shutdown(
                  proto::GoAwayCode::kUnauthorized,
                  "cluster \"" + t.cluster + "\" is disabled or unknown in the metaserver");
            }
          }
        }
        police_tunnels();
      });
    };
    police_tunnels();
  }

  // Each cluster's report in the metaserver carries fresh counts of what this hub caches of it.
  std::function<void()> refresh_status;
  auto status_timer = std::make_shared<asio::steady_timer>(io);
  if (metaserver) {
    auto forwarder = std::make_shared<hub::StatusForwarder>(registry, cache, metaserver);
    refresh_status = [&, forwarder, status_timer] {
      status_timer->expires_after(hub::StatusForwarder::kCheckEvery);
      status_timer->async_wait([&, forwarder](const boost::system::error_code& ec) {
        if (ec) return;
        forwarder->refresh(std::chrono::steady_clock::now());
        refresh_status();
      });
    };
    refresh_status();
  }

  if (mover) asio::co_spawn(io, hub::TunnelMover::run(mover), asio::detached);

  std::function<void()> shut_down = [&] {
    ready = false;
    tunnels.stop();
    if (peer_listener) peer_listener->stop();
    if (peers) peers->closeAll("hub shutting down");
    users.stopAccepting();
    admin.stop();
    for (const auto& t : registry->snapshot()) {
      t.mux->shutdown(proto::GoAwayCode::kDraining, "hub shutting down");
    }
    if (metaserver) metaserver->stop();
    police_timer->cancel();
    status_timer->cancel();
    // Give GOAWAYs a moment to reach the agents, then stop.
    auto timer = std::make_shared<asio::steady_timer>(io, std::chrono::milliseconds(500));
    timer->async_wait([&pool, &users, timer](const boost::system::error_code&) {
      users.stop();
      pool.stop();
    });
  };
  // SIGTERM with peering: drain first. Agents move to other hubs (new tunnel first), /readyz
  // says so (load balancers stop sending users here), users' requests are served meanwhile;
  // once no tunnel is left (or --drain-timeout passes) the hub leaves the registry and exits.
  auto drain_timer = std::make_shared<asio::steady_timer>(io);
  std::function<void()> drain_check;
  pool.run([&] {
    if (!mover || o.drain_timeout.count() == 0 || registry->size() == 0) {
      shut_down();
      if (metaserver) metaserver->leave();
      return;
    }
    log::info("draining before exit (a second signal exits at once)",
              {{"tunnels", registry->size()}, {"timeout_ms", o.drain_timeout.count()}});
    leaving = true;
    mover->drainLocally();
    auto deadline = std::chrono::steady_clock::now() + o.drain_timeout;
    drain_check = [&, deadline] {
      if (registry->size() == 0 || std::chrono::steady_clock::now() >= deadline) {
        log::info(
            registry->size() == 0 ? "every agent moved; exiting" : "drain timeout passed; exiting",
            {{"tunnels", registry->size()}, {"moves", mover->movesRequested()}});
        shut_down();
        if (metaserver) metaserver->leave();
        return;
      }
      drain_timer->expires_after(std::chrono::milliseconds(100));
      drain_timer->async_wait([&drain_check](const boost::system::error_code& ec) {
        if (!ec) drain_check();
      });
    };
    drain_check();
  });
  log::info("hub stopped");
  return 0;
}
