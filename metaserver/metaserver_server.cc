#include "metaserver/metaserver_server.h"

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <cctype>
#include <condition_variable>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <utility>
#include <vector>

#include "common/log/log.h"
#include "common/net/admin_server.h"
#include "common/net/http_server.h"
#include "common/net/server_main.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"
#include "metaserver/api/api_server.h"
#include "metaserver/api/metrics.h"
#include "metaserver/api/token_service.h"
#include "metaserver/ca/certificate_authority.h"
#include "metaserver/store/change_feed.h"
#include "metaserver/store/migrations.h"
#include "metaserver/store/pg.h"
#include "metaserver/store/secret_box.h"
#include "metaserver/store/store.h"

namespace kubehub::metaserver {

namespace asio = boost::asio;

namespace {

absl::StatusOr<std::string> readFile(const std::string& path, std::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return absl::InvalidArgumentError(std::string(what) + " \"" + path + "\" cannot be read");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

int64_t seconds(std::chrono::milliseconds d) {
  return std::chrono::duration_cast<std::chrono::seconds>(d).count();
}

absl::Status adminTokenLength(const std::string& token) {
  if (!token.empty() && token.size() < 16)
    return absl::InvalidArgumentError("the admin token must have at least 16 characters");
  return absl::OkStatus();
}

/// Connects for start-up, waiting up to `wait` for PostgreSQL to come up.
absl::StatusOr<std::unique_ptr<PgConnection>> connectAtStart(const std::string& database_url,
                                                             std::chrono::milliseconds wait) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  bool logged = false;
  for (;;) {
    auto c = PgConnection::connect(database_url);
    if (c.ok()) return std::move(*c);
    if (c.status().code() != absl::StatusCode::kUnavailable ||
        std::chrono::steady_clock::now() >= deadline) {
      return c.status();
    }
    if (!logged) {
      log::warn("waiting for the database", {{"error", c.status().message()}});
      logged = true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(250));
  }
}

/// Reloads signing keys, announces expired hub registrations on the routes feed (every 5 s) and
/// prunes expired rows, on its own thread (the store blocks on PostgreSQL). stop() joins it.
class Janitor {
 public:
  Janitor(std::shared_ptr<Store> store, std::shared_ptr<TokenService> tokens)
      : thread_([this, store, tokens] { run(store, tokens); }) {}
  ~Janitor() { stop(); }
  Janitor(const Janitor&) = delete;
  Janitor& operator=(const Janitor&) = delete;

  /// Ends the loop and waits for it (at most one round of database calls). Idempotent; from
  /// one thread at a time.
  void stop() {
    {
      std::lock_guard lk(mu_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

 private:
  void run(const std::shared_ptr<Store>& store, const std::shared_ptr<TokenService>& tokens) {
    auto next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    std::unique_lock lk(mu_);
    while (!cv_.wait_for(lk, std::chrono::seconds(5), [this] { return stop_; })) {
      lk.unlock();
      if (auto s = tokens->reload(); !s.ok())
        log::debug("signing key reload failed", {{"error", s.message()}});
      if (auto s = store->registry().announceExpiredHubs(std::chrono::seconds(5)); !s.ok())
        log::debug("announcing expired hubs failed", {{"error", s.message()}});
      if (std::chrono::steady_clock::now() >= next_prune) {
        if (auto s = store->pruneExpired(); !s.ok())
          log::debug("prune failed", {{"error", s.message()}});
        next_prune = std::chrono::steady_clock::now() + std::chrono::seconds(60);
      }
      lk.lock();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace

absl::Status MetaserverOptions::validate() const {
  log::Level level;
  if (!log::parseLevel(log_level, &level))
    return absl::InvalidArgumentError("--log-level must be debug, info, warn or error");
  if (database_url.empty()) {
    return absl::InvalidArgumentError(
        "--database-url is required (libpq conninfo or postgresql:// URI)");
  }
  if (auto s = validateConninfo(database_url); !s.ok()) return s;
  if (insecure_http && (!tls_cert.empty() || !tls_key.empty())) {
    return absl::InvalidArgumentError(
        "--insecure-http and --tls-cert/--tls-key exclude each other");
  }
  if (!insecure_http && (tls_cert.empty() || tls_key.empty())) {
    return absl::InvalidArgumentError(
        "--tls-cert and --tls-key are required (or --insecure-http for plain HTTP on a trusted "
        "host)");
  }
  if (!admin_token.empty() && !admin_token_file.empty()) {
    return absl::InvalidArgumentError("give --admin-token or --admin-token-file, not both");
  }
  if (ca_cert.empty() != ca_key.empty())
    return absl::InvalidArgumentError("--ca-cert and --ca-key go together");
  if (!hub_url.empty()) {
    auto u = net::parseUrl(hub_url);
    if (!u.ok())
      return absl::InvalidArgumentError("--hub-url: " + std::string(u.status().message()));
    if (u->scheme != "https")
      return absl::InvalidArgumentError("--hub-url must be an https:// URL");
  }
  if (threads < 1 || threads > 256)
    return absl::InvalidArgumentError("--threads must be between 1 and 256");
  int64_t pool = db_pool_size == 0 ? threads : db_pool_size;
  if (pool < 1 || pool > 1000)
    return absl::InvalidArgumentError("--db-pool-size must be between 1 and 1000");
  if (tls_reload_interval.count() < 0)
    return absl::InvalidArgumentError("--tls-reload-interval must not be negative");
  if (max_body_bytes < 1024 || max_body_bytes > (64 << 20)) {
    return absl::InvalidArgumentError("--max-body-bytes must be between 1024 and 67108864");
  }
  const std::pair<const char*, std::chrono::milliseconds> ttls[] = {
      {"--token-ttl", token_ttl},           {"--max-token-ttl", max_token_ttl},
      {"--kubeconfig-ttl", kubeconfig_ttl}, {"--bootstrap-ttl", bootstrap_ttl},
      {"--agent-cert-ttl", agent_cert_ttl}, {"--hub-cert-ttl", hub_cert_ttl},
      {"--registry-ttl", registry_ttl}};
  for (const auto& [name, d] : ttls) {
    if (d < std::chrono::seconds(1))
      return absl::InvalidArgumentError(std::string(name) + " must be at least 1s");
  }
  if (token_ttl > max_token_ttl || kubeconfig_ttl > max_token_ttl) {
    return absl::InvalidArgumentError(
        "--token-ttl and --kubeconfig-ttl must not exceed --max-token-ttl");
  }
  // The default must fit the cap every request is held to, or each bootstrap without a ttl
  // would fail about a ttl its caller never sent.
  if (bootstrap_ttl > std::chrono::seconds(kMaxBootstrapTtlSeconds)) {
    return absl::InvalidArgumentError(
        "--bootstrap-ttl must be at most 168h (a bootstrap token lives at most 7 days)");
  }
  if (auto hp = net::parseHostPort(listen); !hp.ok()) return hp.status();
  if (auto hp = net::parseHostPort(admin_listen); !hp.ok()) return hp.status();
  return adminTokenLength(admin_token);
}

MetaserverOptions MetaserverOptions::withDefaults() const {
  MetaserverOptions o = *this;
  while (!o.hub_url.empty() && o.hub_url.back() == '/') o.hub_url.pop_back();
  if (o.db_pool_size == 0) o.db_pool_size = o.threads;
  return o;
}

/// What the metaserver is made of, in the order it is built (destroyed in reverse).
struct MetaserverServer::Parts {
  MetaserverOptions o;
  std::string version;
  std::shared_ptr<PgPool> pool;
  std::shared_ptr<Store> store;
  std::shared_ptr<TokenService> tokens;
  std::shared_ptr<Metrics> metrics;
  asio::io_context io;
  std::unique_ptr<net::HttpServer> api_http;
  std::shared_ptr<ApiServer> server;
  std::unique_ptr<ChangeListener> change_listener;
  std::atomic<bool> ready{true};
  std::unique_ptr<net::AdminServer> admin;
  std::unique_ptr<Janitor> janitor;
  std::unique_ptr<net::TlsReloader> tls_reloader;
  std::atomic<bool> started{false};
  std::atomic<bool> stopping{false};

  Parts(const MetaserverOptions& options, std::string v)
      : o(options.withDefaults()), version(std::move(v)), io(static_cast<int>(o.threads)) {}
  absl::StatusOr<MetaserverAddresses> start();
  net::Readiness readiness() const;
};

MetaserverServer::MetaserverServer(const MetaserverOptions& options, std::string version)
    : parts_(std::make_unique<Parts>(options, std::move(version))) {}

MetaserverServer::~MetaserverServer() {
  if (parts_->janitor) parts_->janitor->stop();
}

absl::StatusOr<MetaserverAddresses> MetaserverServer::start() {
  auto bound = parts_->start();
  if (bound.ok()) parts_->started = true;
  return bound;
}

void MetaserverServer::run(std::function<void()> on_signal) {
  if (!parts_->started) return;
  net::runIoContext(parts_->io, static_cast<int>(parts_->o.threads), std::move(on_signal));
  parts_->janitor->stop();
}

void MetaserverServer::stop() {
  if (!parts_->started || parts_->stopping.exchange(true)) return;
  Parts* p = parts_.get();
  p->ready = false;
  asio::post(p->io, [p] {
    p->api_http->stop();
    p->admin->stop();
    p->io.stop();
  });
}

const MetaserverOptions& MetaserverServer::options() const { return parts_->o; }

net::Readiness MetaserverServer::Parts::readiness() const {
  if (!ready.load()) return net::Readiness::waiting("shutting down");
  // Probes may come from outside: the reason, not the database's address (the pool logs
  // the full error when the database goes away).
  if (auto s = pool->ping(); !s.ok()) return net::Readiness::waiting(clientErrorMessage(s, 503));
  return net::Readiness::ok();
}

absl::StatusOr<MetaserverAddresses> MetaserverServer::Parts::start() {
  auto listen = net::parseHostPort(o.listen);
  if (!listen.ok()) return listen.status();
  auto admin_listen = net::parseHostPort(o.admin_listen);
  if (!admin_listen.ok()) return admin_listen.status();
  if (!o.admin_token_file.empty()) {
    auto text = readFile(o.admin_token_file, "--admin-token-file");
    if (!text.ok()) return text.status();
    o.admin_token = *text;
    while (!o.admin_token.empty() &&
           std::isspace(static_cast<unsigned char>(o.admin_token.back()))) {
      o.admin_token.pop_back();
    }
  }
  if (auto s = adminTokenLength(o.admin_token); !s.ok()) return s;
  ApiOptions api;
  api.issuer = o.issuer;
  api.hub_url = o.hub_url;
  api.admin_token = o.admin_token;
  api.default_token_ttl = seconds(o.token_ttl);
  api.max_token_ttl = seconds(o.max_token_ttl);
  api.kubeconfig_ttl = seconds(o.kubeconfig_ttl);
  api.bootstrap_ttl = seconds(o.bootstrap_ttl);
  api.agent_cert_ttl = seconds(o.agent_cert_ttl);
  api.hub_cert_ttl = seconds(o.hub_cert_ttl);
  if (!o.hub_ca_file.empty()) {
    auto pem = readFile(o.hub_ca_file, "--hub-ca-file");
    if (!pem.ok()) return pem.status();
    if (pem->find("-----BEGIN CERTIFICATE-----") == std::string::npos) {
      return absl::InvalidArgumentError("--hub-ca-file \"" + o.hub_ca_file +
                                        "\" holds no PEM certificate");
    }
    api.hub_ca_pem = *pem;
  }
  std::optional<CaRecord> ca_files;
  if (!o.ca_cert.empty()) {
    auto cert = readFile(o.ca_cert, "--ca-cert");
    if (!cert.ok()) return cert.status();
    auto key = readFile(o.ca_key, "--ca-key");
    if (!key.ok()) return key.status();
    ca_files = CaRecord{*cert, *key};
  }
  std::shared_ptr<net::TlsSource> tls;
  if (!o.insecure_http) {
    net::ServerTlsOptions server_tls{o.tls_cert, o.tls_key, ""};
    auto source = net::TlsSource::fromFiles("api", {o.tls_cert, o.tls_key}, [server_tls] {
      return net::makeServerContext(server_tls);
    });
    if (!source.ok()) return source.status();
    tls = *source;
  }

  // Private keys at rest: sealed under the envelope key when one is given.
  std::shared_ptr<const SecretBox> box = SecretBox::plaintext();
  if (!o.encryption_key_file.empty()) {
    auto loaded = SecretBox::fromFile(o.encryption_key_file);
    if (!loaded.ok()) return loaded.status();
    box = *loaded;
    log::info("private keys are sealed at rest", {{"encryption_key", box->primaryKeyId()}});
  } else {
    log::warn(
        "no --encryption-key-file: the token signing keys and the CA key are stored unencrypted "
        "in the database (anyone with a copy of it can sign tokens and certificates)");
  }

  // The database: migrations first (serialised across replicas), then secrets.
  auto started_at = std::chrono::steady_clock::now();
  {
    auto conn = connectAtStart(o.database_url, o.db_wait);
    if (!conn.ok()) return conn.status();
    auto report = applyMigrations(**conn, builtinMigrations());
    if (!report.ok()) return report.status();
    log::info("database schema ready", {{"applied", report->applied},
                                        {"already_applied", report->already_applied},
                                        {"version", builtinMigrations().back().version}});
  }
  pool = std::make_shared<PgPool>(o.database_url, static_cast<size_t>(o.db_pool_size),
                                  std::chrono::seconds(5));
  store = std::make_shared<Store>(
      pool, std::chrono::duration_cast<std::chrono::seconds>(o.registry_ttl), box);
  auto secrets = bootstrapSecrets(
      *pool, [] { return TokenService::newKey(); },
      [] { return CertificateAuthority::generate("kubehub-tunnel-ca", 3650); },
      !ca_files.has_value(), *box);
  if (!secrets.ok()) return secrets;
  if (!ca_files) {
    auto stored = store->pki().loadCa();
    if (!stored.ok()) return stored.status();
    if (!*stored) return absl::InternalError("the CA is missing from the database");
    ca_files = **stored;
  }
  auto ca = CertificateAuthority::load(*ca_files);
  if (!ca.ok()) return ca.status();
  tokens = std::make_shared<TokenService>(store->credentials(), o.issuer,
                                          std::chrono::seconds(api.max_token_ttl));
  if (auto s = tokens->reload(); !s.ok()) return s;
  metrics = std::make_shared<Metrics>(pool);

  net::HttpServerOptions api_options;
  api_options.name = "api";
  api_options.max_body_bytes = static_cast<size_t>(o.max_body_bytes);
  api_options.tls_source = tls;
  // Requests arrive only once the handler is set below: the io_context is not running yet.
  api_http = std::make_unique<net::HttpServer>(
      io, api_options, [this](net::HttpRequest& req) { return server->handle(req); });
  auto api_bound = api_http->start(*listen);
  if (!api_bound.ok()) return api_bound.status();
  if (o.public_url.empty()) {
    o.public_url = std::string(o.insecure_http ? "http" : "https") + "://" + api_bound->str();
  }
  api.public_url = o.public_url;
  server = std::make_shared<ApiServer>(api, store, tokens, *ca, metrics);
  // Hubs long-poll the change feeds (GET /api/v1/changes); the listener keeps them current
  // from the database's notifications, whichever replica made the change.
  auto changes = std::make_shared<ChangeFeed>();
  change_listener = std::make_unique<ChangeListener>(o.database_url, changes);
  change_listener->start();
  server->setChangeFeed(changes);

  net::AdminRoutes admin_routes;
  admin_routes.readiness = [this] { return readiness(); };
  admin_routes.metrics = [m = metrics] { return m->render(); };
  admin = std::make_unique<net::AdminServer>(io, std::move(admin_routes));
  auto admin_bound = admin->start(*admin_listen);
  if (!admin_bound.ok()) return admin_bound.status();
  janitor = std::make_unique<Janitor>(store, tokens);
  if (tls) {
    metrics->tlsCertificateExpiry(tls->notAfter());
    auto m = metrics;
    tls_reloader = std::make_unique<net::TlsReloader>(
        std::vector<std::shared_ptr<net::TlsSource>>{tls}, o.tls_reload_interval,
        [m](const net::TlsSource& source, bool ok) {
          m->tlsReload(ok);
          if (ok) m->tlsCertificateExpiry(source.notAfter());
        });
  }

  double startup_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started_at)
          .count();
  log::info("api listening", {{"address", api_bound->str()}, {"tls", !o.insecure_http}});
  log::info("metaserver started", {{"version", version},
                                   {"threads", o.threads},
                                   {"db_pool", o.db_pool_size},
                                   {"startup_ms", static_cast<int64_t>(startup_ms)},
                                   {"admin_token", o.admin_token.empty() ? "none" : "set"}});
  return MetaserverAddresses{*api_bound, *admin_bound};
}

}  // namespace kubehub::metaserver
