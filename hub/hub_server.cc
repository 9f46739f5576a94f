#include "hub/hub_server.h"

#include <unistd.h>

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <nlohmann/json.hpp>

#include "common/config/secret_file.h"
#include "common/k8s/cluster_path.h"
#include "common/log/log.h"
#include "common/net/admin_server.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/task_group.h"
#include "common/net/tls.h"
#include "common/tunnel/ws_transport.h"
#include "hub/api/peer_server.h"
#include "hub/api/user_server.h"
#include "hub/auth/hub_credentials.h"
#include "hub/auth/metaserver_metrics.h"
#include "hub/auth/token_file.h"
#include "hub/cache/cache_metrics.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/peer/peer_links.h"
#include "hub/peer/peer_metrics.h"
#include "hub/tunnel/agent_session.h"
#include "hub/tunnel/status_forwarder.h"
#include "hub/tunnel/tunnel_metrics.h"
#include "hub/tunnel/tunnel_mover.h"
#include "hub/tunnel/tunnel_registry.h"

namespace kubehub::hub {

namespace asio = boost::asio;

namespace {

constexpr const char* kVersion = "0.1.0";

/// A cluster disabled (or deleted) in the metaserver loses its tunnel here, not only new ones.
asio::awaitable<void> policeTunnels(std::shared_ptr<TunnelRegistry> registry,
                                    std::shared_ptr<MetaserverSync> metaserver) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::seconds(1));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto snap = metaserver->snapshot();
    if (!snap->clusters_loaded) continue;
    for (const auto& t : registry->snapshot()) {
      auto it = snap->clusters->find(t.cluster);
      if (it == snap->clusters->end() || it->second.disabled) {
        log::warn("closing the tunnel of a cluster the metaserver disabled or removed",
                  {{"cluster", t.cluster}});
        t.mux->shutdown(proto::GoAwayCode::kUnauthorized,
                        "cluster \"" + t.cluster + "\" is disabled or unknown in the metaserver");
      }
    }
  }
}

/// Drops the caches of clusters whose tunnels stayed away (moved to another hub, deleted, or
/// down) for `keep`: without it a hub kept every cluster it ever held, objects and all.
asio::awaitable<void> dropDetachedCaches(std::shared_ptr<cache::CacheRegistry> cache,
                                         std::chrono::milliseconds keep) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  // Checked a few times per `keep`, at most every 30 s: a cache goes between `keep` and
  // `keep` plus one interval after its tunnel.
  auto every = std::clamp<std::chrono::milliseconds>(keep / 4, std::chrono::milliseconds(250),
                                                     std::chrono::seconds(30));
  for (;;) {
    timer.expires_after(every);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    for (const auto& d : cache->dropDetached(std::chrono::steady_clock::now(), keep)) {
      log::info("cache dropped: no tunnel from the cluster for --cache-keep-detached",
                {{"cluster", d.cluster},
                 {"objects", d.objects},
                 {"bytes", d.bytes},
                 {"keep_seconds", keep.count() / 1000}});
    }
  }
}

/// Request series of clusters nobody asked for an hour go (HubMetrics::forgetIdleRequestSeries).
asio::awaitable<void> forgetIdleMetrics(std::shared_ptr<HubMetrics> metrics) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(std::chrono::minutes(1));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    size_t n = metrics->forgetIdleRequestSeries(std::chrono::steady_clock::now(),
                                                HubMetrics::kRequestSeriesIdle);
    if (n > 0) log::debug("request metric series unused for an hour dropped", {{"series", n}});
  }
}

/// Each cluster's report in the metaserver carries fresh counts of what this hub caches of it.
asio::awaitable<void> refreshStatus(std::shared_ptr<StatusForwarder> forwarder) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    timer.expires_after(StatusForwarder::kCheckEvery);
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    forwarder->refresh(std::chrono::steady_clock::now());
  }
}

}  // namespace

absl::Status HubOptions::validate() const {
  log::Level level;
  if (!log::parseLevel(log_level, &level)) {
    return absl::InvalidArgumentError("--log-level must be debug, info, warn or error");
  }
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
  if (tenant_rate_milli < 0 || tenant_burst < 1) {
    return absl::InvalidArgumentError("--tenant-rate must be >= 0 and --tenant-burst >= 1");
  }
  if (threads > 256) return absl::InvalidArgumentError("--threads must be at most 256");
  if (tunnel_threads < 0 || tunnel_threads > 256)
    return absl::InvalidArgumentError("--tunnel-threads must be between 0 and 256");
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
  // Unset (negative) limits become shares of --max-streams (withDefaults), never above it.
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
  if (cache_keep_detached.count() < 0)
    return absl::InvalidArgumentError("--cache-keep-detached must not be negative");
  if (cache_max_bytes > 0 && cache_window_bytes > cache_max_bytes) {
    return absl::InvalidArgumentError(
        "--cache-window-bytes must not exceed --cache-max-bytes (the window counts against "
        "the cluster's budget)");
  }
  for (const std::string* address : {&listen, &tunnel_listen, &admin_listen, &peer_listen}) {
    if (address->empty() && address == &peer_listen) continue;
    if (auto hp = net::parseHostPort(*address); !hp.ok()) return hp.status();
  }
  if (!metaserver_url.empty() && !net::parseUrl(metaserver_url).ok()) {
    return absl::InvalidArgumentError("--metaserver-url \"" + metaserver_url + "\" is not a URL");
  }
  return absl::OkStatus();
}

HubOptions HubOptions::withDefaults() const {
  HubOptions o = *this;
  if (o.tunnel_tls_cert.empty()) o.tunnel_tls_cert = o.tls_cert;
  if (o.tunnel_tls_key.empty()) o.tunnel_tls_key = o.tls_key;
  if (o.threads <= 0) o.threads = net::usableCpus();
  if (o.hub_id.empty()) {
    char host[256] = {0};
    gethostname(host, sizeof(host) - 1);
    o.hub_id = host;
  }
  // Shares of --max-streams, so one user or one tenant never holds the whole tunnel.
  std::pair<int64_t*, int64_t> shares[] = {{&o.max_long_streams_per_user, 8},
                                           {&o.max_long_streams_per_tenant, 2},
                                           {&o.max_requests_per_user, 4},
                                           {&o.max_requests_per_tenant, 2}};
  for (auto [value, share] : shares) {
    if (*value < 0) *value = std::max<int64_t>(1, o.max_streams / share);
  }
  return o;
}

/// What the hub is made of, in the order it is built (destroyed in reverse).
struct HubServer::Parts {
  // First, so destroyed last: a tunnel still in the registry (one that attached while the hub
  // was stopping) holds a WebSocket whose service lives in these contexts.
  std::unique_ptr<net::IoPool> pool;
  HubOptions o;
  std::shared_ptr<const StaticTokenAuthenticator> static_tokens;
  std::shared_ptr<AuditLog> audit;
  std::shared_ptr<config::SecretFile> metaserver_token;
  std::function<std::string()> token_source;
  std::shared_ptr<HubCredentials> credentials;
  std::shared_ptr<cache::CacheRegistry> cache;
  std::shared_ptr<TunnelRegistry> registry;
  std::shared_ptr<HubMetrics> metrics;
  std::shared_ptr<MetaserverSync> metaserver;
  std::shared_ptr<Authenticator> auth;
  std::shared_ptr<RateLimiter> limiter;
  std::shared_ptr<TunnelMover> mover;
  std::unique_ptr<tunnel::TunnelListener> tunnels;
  std::shared_ptr<StreamQuota> stream_quota;
  std::shared_ptr<PeerLinks> peers;
  std::unique_ptr<tunnel::TunnelListener> peer_listener;
  std::unique_ptr<UserServer> users;
  std::atomic<bool> ready{false};
  std::atomic<bool> leaving{false};
  std::atomic<bool> stopping{false};
  bool started = false;  // start() succeeded: stop() has something to stop
  std::unique_ptr<net::AdminServer> admin;
  // The hub's own loops (police, status, mover, drain): cancelled on shutdown.
  net::TaskGroup tasks{"hub"};
  // Agents' and peer hubs' tunnel sessions: told GOAWAY, then cancelled and awaited (briefly) on
  // shutdown.
  net::TaskGroup sessions{"sessions"};

  absl::StatusOr<HubAddresses> start();
  net::Readiness readiness() const;
  net::AdminRoutes adminRoutes() const;
  void beginStop();
  void shutDown();
  static asio::awaitable<void> finishStop(Parts* p);
};

namespace {

/// SIGTERM with peering: agents move to other hubs; once no tunnel is left (or the deadline
/// passes) `done` shuts the hub down.
asio::awaitable<void> drainThenStop(std::shared_ptr<TunnelRegistry> registry,
                                    std::shared_ptr<TunnelMover> mover,
                                    std::chrono::steady_clock::time_point deadline,
                                    std::function<void()> done) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  while (registry->size() > 0 && std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(100));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
  }
  log::info(registry->size() == 0 ? "every agent moved; exiting" : "drain timeout passed; exiting",
            {{"tunnels", registry->size()}, {"moves", mover->movesRequested()}});
  done();
}

}  // namespace

HubServer::HubServer(const HubOptions& options) : parts_(std::make_unique<Parts>()) {
  parts_->o = options.withDefaults();
}

HubServer::~HubServer() = default;

const HubOptions& HubServer::options() const { return parts_->o; }

std::shared_ptr<TunnelRegistry> HubServer::tunnels() const { return parts_->registry; }

absl::StatusOr<HubAddresses> HubServer::start() { return parts_->start(); }

void HubServer::run(std::function<void()> on_signal) {
  if (parts_->pool) parts_->pool->run(std::move(on_signal));
}

void HubServer::stop() {
  if (!parts_->started || parts_->stopping.exchange(true)) return;
  Parts* p = parts_.get();
  asio::post(p->pool->main(), [p] { p->beginStop(); });
}

absl::StatusOr<HubAddresses> HubServer::Parts::start() {
  auto listen = net::parseHostPort(o.listen);
  auto tunnel_listen = net::parseHostPort(o.tunnel_listen);
  auto admin_listen = net::parseHostPort(o.admin_listen);
  auto peer_listen = net::parseHostPort(o.peer_listen.empty() ? "127.0.0.1:0" : o.peer_listen);
  for (auto* a : {&listen, &tunnel_listen, &admin_listen, &peer_listen}) {
    if (!a->ok()) return a->status();
  }
  if (!o.token_file.empty()) {
    auto tokens = StaticTokenAuthenticator::loadFile(o.token_file);
    if (!tokens.ok()) return tokens.status();
    static_tokens = std::make_shared<const StaticTokenAuthenticator>(std::move(*tokens));
  }
  auto audit_log =
      AuditLog::open(o.audit_log, static_cast<size_t>(std::max<int64_t>(o.audit_log_max_bytes, 0)),
                     static_cast<int>(o.audit_log_max_files));
  if (!audit_log.ok()) return audit_log.status();
  audit = std::shared_ptr<AuditLog>(std::move(*audit_log));
  // The hub's metaserver token, read again when its file changes (a rotated Secret).
  if (!o.metaserver_url.empty()) {
    auto token = config::SecretFile::open(o.metaserver_token_file, "--metaserver-token-file");
    if (!token.ok()) return token.status();
    metaserver_token = *token;
    token_source = [token = metaserver_token] { return token->value(); };
    if (!net::parseUrl(o.metaserver_url).ok()) {
      return absl::InvalidArgumentError("--metaserver-url \"" + o.metaserver_url +
                                        "\" is not a URL");
    }
  }

  // TLS material: files reloaded when they change; the agents' CA and the peer certificate from
  // the metaserver when not given as files.
  HubCredentialOptions credential_options;
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
  auto credential_metrics = std::make_shared<std::atomic<std::shared_ptr<HubMetrics>>>();
  CredentialEvents credential_events;
  credential_events.reload = [credential_metrics](const net::TlsSource& source, bool ok) {
    if (auto m = credential_metrics->load()) m->tlsReload(source.name(), ok);
  };
  credential_events.enrolment = [credential_metrics](bool ok) {
    if (auto m = credential_metrics->load()) m->peerCertificateEnrolment(ok);
  };
  auto created = HubCredentials::create(credential_options, credential_events);
  if (!created.ok()) return created.status();
  credentials = std::move(*created);
  auto peer_server_tls = credentials->peerServer();
  auto peer_client_tls = credentials->peerClient();

  // One context per thread; `io` (the main one) runs listeners, timers and the admin server.
  pool = std::make_unique<net::IoPool>(static_cast<int>(o.threads),
                                       static_cast<int>(o.tunnel_threads));
  asio::io_context& io = pool->main();
  auto policy = cache::CachePolicy::parse(o.cache_resources);
  if (!policy.ok()) return policy.status();
  policy->max_bytes_per_cluster = static_cast<size_t>(std::max<int64_t>(o.cache_max_bytes, 0));
  policy->window_events = static_cast<size_t>(std::max<int64_t>(o.cache_window, 1));
  policy->window_max_bytes = static_cast<size_t>(o.cache_window_bytes);
  cache = std::make_shared<cache::CacheRegistry>(*policy);
  registry = std::make_shared<TunnelRegistry>();
  metrics = std::make_shared<HubMetrics>();
  metrics->addScrapeSource(tunnelScrapeSource(registry));
  metrics->setTlsSources(credentials->sources());
  credential_metrics->store(metrics);
  credentials->start();
  metrics->addScrapeSource(cache::cacheScrapeSource(cache));

  if (!o.metaserver_url.empty()) {
    MetaserverSyncOptions mo;
    mo.url = o.metaserver_url;
    mo.token_source = token_source;
    mo.tls.ca_file = o.metaserver_ca;
    mo.hub_id = o.hub_id;
    mo.version = kVersion;
    metaserver = std::make_shared<MetaserverSync>(mo);
    // The metaserver takes registry reports only for the hub named like the token's user.
    absl::Status identity = metaserver->checkIdentity();
    if (absl::IsFailedPrecondition(identity)) return identity;
    if (!identity.ok()) {
      log::warn("could not ask the metaserver who this hub's token is; asking again later",
                {{"hub_id", o.hub_id}, {"error", identity.message()}});
    }
  }
  auth = std::make_shared<Authenticator>(static_tokens, metaserver);
  auth->setMetrics(metrics);
  if (metaserver) metrics->addScrapeSource(metaserverScrapeSource(metaserver));
  if (o.tenantRate() > 0)
    limiter = std::make_shared<RateLimiter>(o.tenantRate(), static_cast<double>(o.tenant_burst));
  AgentSessionOptions session_options;
  session_options.hub_id = o.hub_id;
  session_options.mux.ping_interval = o.ping_interval;
  session_options.mux.idle_timeout = o.tunnel_idle_timeout;
  session_options.mux.stream_window = static_cast<uint32_t>(o.stream_window);
  session_options.mux.connection_window =
      static_cast<uint32_t>(std::max<int64_t>(o.stream_window * 64, 16 << 20));
  session_options.mux.max_streams = static_cast<uint32_t>(o.max_streams);
  session_options.advertise_hubs = !o.peer_listen.empty();
  // With peering, agents may move between hubs: drain (admin or SIGTERM) and rebalancing.
  if (!o.peer_listen.empty() && metaserver) {
    MoverOptions mover_options;
    mover_options.hub_id = o.hub_id;
    mover_options.drain_rate = o.drainRate();
    mover_options.rebalance_rate = o.rebalanceRate();
    mover_options.settle = o.rebalance_settle;
    mover = std::make_shared<TunnelMover>(registry, metaserver, mover_options, metrics);
    metrics->addScrapeSource(moverScrapeSource(mover));
    session_options.mover = mover;
  }

  tunnels = std::make_unique<tunnel::TunnelListener>(
      *pool, credentials->tunnel(),
      [this, session_options](std::unique_ptr<tunnel::Transport> t, tunnel::TunnelPeer peer) {
        auto ex = t->executor();
        sessions.spawn(ex, runAgentSession(registry, metrics, cache, metaserver, std::move(t),
                                           std::move(peer), session_options));
      },
      std::chrono::seconds(10));
  metrics->addScrapeSource(handshakeScrapeSource(tunnels.get()));
  UserServerOptions user_options;
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
  user_options.cache.hedge_after = o.cache_hedge_after;
  user_options.cache.metrics = metrics.get();
  user_options.cache.gzip = o.cache_gzip;
  stream_quota = std::make_shared<StreamQuota>(user_options.stream_quota);
  if (peer_client_tls) {
    peers = std::make_shared<PeerLinks>(*pool, peer_client_tls);
    metrics->addScrapeSource(peerLinksScrapeSource(peers));
  }
  if (peer_server_tls) {
    auto peer_deps = std::make_shared<PeerServerDeps>();
    peer_deps->hub_id = o.hub_id;
    peer_deps->registry = registry;
    peer_deps->metaserver = metaserver;
    peer_deps->metrics = metrics;
    peer_deps->cache = cache;
    peer_deps->stream_quota = stream_quota;
    peer_deps->cache_options = user_options.cache;
    peer_deps->response_timeout = o.response_timeout;
    peer_deps->request_executor = [p = pool.get()] {
      return asio::any_io_executor(p->next().get_executor());
    };
    peer_deps->tunnel_executor = [p = pool.get(), r = registry](std::string_view target) {
      auto parsed = k8s::parseClusterTarget(target);
      auto mux = parsed.ok() ? r->find(parsed->cluster) : nullptr;
      asio::io_context* context = mux ? p->userContextOf(mux->executor()) : nullptr;
      return context != nullptr ? asio::any_io_executor(context->get_executor())
                                : asio::any_io_executor();
    };
    peer_listener = std::make_unique<tunnel::TunnelListener>(
        *pool, peer_server_tls,
        [this, peer_deps = std::shared_ptr<const PeerServerDeps>(peer_deps)](
            std::unique_ptr<tunnel::Transport> t, tunnel::TunnelPeer peer) {
          auto ex = t->executor();
          sessions.spawn(ex, runPeerSession(peer_deps, std::move(t), std::move(peer)));
        },
        std::chrono::seconds(10), tunnel::kPeerEndpoint);
  }
  UserServerDeps deps;
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
  users = std::make_unique<UserServer>(*pool, credentials->users(), user_options, deps);

  admin = std::make_unique<net::AdminServer>(io, adminRoutes());

  HubAddresses bound;
  auto tunnel_bound = tunnels->start(*tunnel_listen);
  if (!tunnel_bound.ok()) return tunnel_bound.status();
  bound.tunnel = *tunnel_bound;
  auto user_bound = users->start(*listen);
  if (!user_bound.ok()) return user_bound.status();
  bound.users = *user_bound;
  auto admin_bound = admin->start(*admin_listen);
  if (!admin_bound.ok()) return admin_bound.status();
  bound.admin = *admin_bound;
  if (peer_listener) {
    auto peer_bound = peer_listener->start(*peer_listen);
    if (!peer_bound.ok()) return peer_bound.status();
    bound.peer = *peer_bound;
    log::info("peers listening", {{"address", bound.peer->str()}});
  }
  log::info("tunnel listening", {{"address", bound.tunnel.str()}});
  log::info("users listening", {{"address", bound.users.str()}});
  if (metaserver) {
    std::string host = o.advertise_host.empty() ? o.hub_id : o.advertise_host;
    auto advertise = [&](const net::HostPort& hp) {
      bool any = hp.host == "0.0.0.0" || hp.host == "::";
      return (any ? host : hp.host) + ":" + std::to_string(hp.port);
    };
    std::string tunnel_url = o.advertise_tunnel_url.empty()
                                 ? "wss://" + advertise(bound.tunnel) + "/tunnel"
                             : o.advertise_tunnel_url == "none" ? std::string()
                                                                : o.advertise_tunnel_url;
    metaserver->setAddresses(
        "https://" + advertise(bound.users), tunnel_url,
        bound.peer ? "wss://" + advertise(*bound.peer) + tunnel::kPeerPath : std::string());
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

  if (metaserver) {
    tasks.spawn(io.get_executor(), policeTunnels(registry, metaserver));
    tasks.spawn(io.get_executor(),
                refreshStatus(std::make_shared<StatusForwarder>(registry, cache, metaserver)));
  }
  if (mover) tasks.spawn(io.get_executor(), TunnelMover::run(mover));
  tasks.spawn(io.get_executor(), dropDetachedCaches(cache, o.cache_keep_detached));
  tasks.spawn(io.get_executor(), forgetIdleMetrics(metrics));
  started = true;
  return bound;
}

net::Readiness HubServer::Parts::readiness() const {
  if (leaving.load()) return net::Readiness::waiting("draining before exit");
  if (!ready.load()) return net::Readiness::waiting("starting");
  if (metaserver && !metaserver->ready()) {
    return net::Readiness::waiting(
        "waiting for signing keys, grants and clusters from the metaserver: " +
        metaserver->health());
  }
  if (peers && !metaserver->routes()->loaded) {
    // Until then it cannot tell a cluster on another hub from one on no hub.
    return net::Readiness::waiting("waiting for the fleet's routing table from the metaserver: " +
                                   metaserver->health());
  }
  if (metaserver && metaserver->health() != "ok") {
    // Still serving users with what it knows: ready, but say it is degraded.
    return net::Readiness::degraded("degraded: " + metaserver->health());
  }
  return net::Readiness::ok();
}

net::AdminRoutes HubServer::Parts::adminRoutes() const {
  net::AdminRoutes r;
  r.readiness = [this] { return readiness(); };
  r.metrics = [this] { return metrics->serialize(); };
  r.routes["/debug/cache"] = [this](const net::HttpRequest&) -> net::HttpResponse {
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
                        {"resourceVersion", std::to_string(t.rv)},
                        {"writtenResourceVersion", std::to_string(t.written_rv)}});
      }
    }
    return {200, "application/json", nlohmann::json{{"types", list}}.dump(), {}};
  };
  r.routes["/debug/peers"] = [this](const net::HttpRequest&) -> net::HttpResponse {
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
  };
  r.routes["/debug/clusters"] = [this](const net::HttpRequest&) -> net::HttpResponse {
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
  };
  return r;
}

// On the main context.
void HubServer::Parts::beginStop() {
  if (!mover || o.drain_timeout.count() == 0 || registry->size() == 0) {
    shutDown();
    if (metaserver) metaserver->leave();
    return;
  }
  log::info("draining before exit (a second signal exits at once)",
            {{"tunnels", registry->size()}, {"timeout_ms", o.drain_timeout.count()}});
  leaving = true;
  mover->drainLocally();
  std::function<void()> done = [this] {
    shutDown();
    if (metaserver) metaserver->leave();
  };
  auto deadline = std::chrono::steady_clock::now() + o.drain_timeout;
  tasks.spawn(pool->main().get_executor(), drainThenStop(registry, mover, deadline, done));
}

// On the main context, after shutDown(): the GOAWAY window, the sessions still open ended and
// awaited (at most 1 s), then the users' endpoint and the pool stop.
asio::awaitable<void> HubServer::Parts::finishStop(Parts* p) {
  asio::steady_timer timer(p->pool->main(), std::chrono::milliseconds(500));
  co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  p->sessions.stop();
  // A named local, not a co_await inside the condition (see the agent's finishStop).
  bool ended = co_await p->sessions.asyncWait(std::chrono::seconds(1));
  if (!ended) log::warn("tunnel sessions still open at exit", {{"sessions", p->sessions.size()}});
  if (p->peers) {
    bool links_ended = co_await p->peers->waitClosed(std::chrono::seconds(1));
    if (!links_ended) log::warn("peer links still open at exit");
  }
  p->users->stop();
  p->pool->stop();
}

// On the main context.
void HubServer::Parts::shutDown() {
  ready = false;
  tunnels->stop();
  if (peer_listener) peer_listener->stop();
  if (peers) peers->closeAll("hub shutting down");
  users->stopAccepting();
  admin->stop();
  for (const auto& t : registry->snapshot()) {
    t.mux->shutdown(proto::GoAwayCode::kDraining, "hub shutting down");
  }
  if (metaserver) metaserver->stop();
  tasks.stop();
  // Give GOAWAYs a moment to reach the agents (and users' requests in progress a moment to
  // finish), then end the sessions still open and wait for them, briefly, then stop.
  asio::co_spawn(pool->main(), finishStop(this), asio::detached);
}

}  // namespace kubehub::hub
