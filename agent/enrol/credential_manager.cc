#include "agent/enrol/credential_manager.h"

#include <ctime>
#include <nlohmann/json.hpp>
#include <random>

#include "common/auth/csr.h"
#include "common/auth/renewal_proof.h"
#include "common/log/log.h"
#include "common/net/backoff.h"
#include "common/net/http_client.h"

namespace kubehub::agent {

using Json = nlohmann::json;

namespace {

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

std::string serialOf(const std::string& cert_pem) {
  auto serial = auth::certificateSerial(cert_pem);
  return serial.ok() ? *serial : std::string("?");
}

int64_t notAfterOf(const std::string& cert_pem) {
  auto v = auth::certificateValidity(cert_pem);
  return v.ok() ? v->not_after : 0;
}

std::string serverMessage(const std::string& body) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("error") && j["error"].is_object() &&
      j["error"].contains("message") && j["error"]["message"].is_string()) {
    return j["error"]["message"].get<std::string>().substr(0, 500);
  }
  return body.substr(0, 200);
}

}  // namespace

std::string enrolmentBody(const std::string& csr_pem) { return Json{{"csr", csr_pem}}.dump(); }

absl::StatusOr<std::string> renewalBody(const Credentials& current, std::string_view cluster,
                                        const std::string& csr_pem, int64_t now) {
  auto proof = auth::signRenewal(current.key_pem, cluster, csr_pem, now);
  if (!proof.ok()) return proof.status();
  return Json{{"csr", csr_pem}, {"certificate", current.cert_pem}, {"proof", *proof}, {"time", now}}
      .dump();
}

absl::StatusOr<IssuedCertificate> parseIssued(int status, const std::string& body, bool renewal,
                                              std::string_view cluster) {
  const std::string name(cluster);
  if (status == 201 || status == 200) {
    Json j = Json::parse(body, nullptr, false);
    if (!j.is_object() || !j.contains("certificate") || !j["certificate"].is_string())
      return absl::UnavailableError("the metaserver's answer holds no certificate");
    IssuedCertificate out;
    out.cert_pem = j["certificate"].get<std::string>();
    out.ca_pem = j.value("caCert", "");
    out.serial = j.value("serial", "");
    return out;
  }
  std::string message = serverMessage(body);
  std::string http = " (HTTP " + std::to_string(status) + ")";
  if (status == 429 || status >= 500) {
    return absl::UnavailableError("the metaserver could not answer: " + message + http);
  }
  if ((status == 401 || status == 403) && !renewal) {
    return absl::PermissionDeniedError(
        "the metaserver refused the bootstrap token: " + message + http +
        ". A bootstrap token works once and expires; make a new one with `kubehubctl cluster "
        "install " +
        name + "` (or `kubehubctl cluster bootstrap " + name + "`) and start the agent with it");
  }
  if (status == 401 || status == 403) {
    return absl::PermissionDeniedError(
        "the metaserver refused to renew the certificate: " + message + http);
  }
  if (status == 404) {
    return absl::NotFoundError("the metaserver does not know cluster \"" + name + "\"" + http +
                               ": register it with `kubehubctl cluster create " + name + "`");
  }
  if (status == 409) return absl::FailedPreconditionError(message + http);
  return absl::InvalidArgumentError("the metaserver rejected the request: " + message + http);
}

CredentialManager::CredentialManager(EnrolmentOptions options,
                                     std::unique_ptr<CredentialStore> store,
                                     std::shared_ptr<AgentMetrics> metrics)
    : options_(std::move(options)), store_(std::move(store)), metrics_(std::move(metrics)) {}

CredentialManager::~CredentialManager() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void CredentialManager::start(OnReady on_ready, OnFatal on_fatal) {
  on_ready_ = std::move(on_ready);
  on_fatal_ = std::move(on_fatal);
  thread_ = std::thread([this] { run(); });
}

bool CredentialManager::sleepFor(std::chrono::milliseconds d) {
  std::unique_lock lock(mu_);
  return !cv_.wait_for(lock, d, [this] { return stop_; });
}

void CredentialManager::fatal(absl::Status status) {
  if (on_fatal_) on_fatal_(std::move(status));
}

absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> CredentialManager::context(
    const Credentials& c) const {
  net::ClientTlsOptions tls;
  tls.ca_file = options_.hub_ca_file;
  tls.cert_pem = c.cert_pem;
  tls.key_pem = c.key_pem;
  return net::makeClientContext(tls);
}

absl::StatusOr<IssuedCertificate> CredentialManager::post(const std::string& path,
                                                          const std::string& body, bool renewal) {
  net::HttpClientOptions o;
  o.tls = options_.metaserver_tls;
  o.timeout = options_.request_timeout;
  o.max_response_bytes = 1 << 20;
  auto client = net::HttpClient::create(options_.metaserver_url, o);
  if (!client.ok()) return client.status();
  net::HeaderList headers = {{"Content-Type", "application/json"}, {"Accept", "application/json"}};
  if (!renewal) headers.emplace_back("Authorization", "Bearer " + options_.bootstrap_token);
  auto r = (*client)->request("POST", path, body, headers);
  if (!r.ok()) {
    return absl::UnavailableError("the metaserver at " + options_.metaserver_url +
                                  " cannot be reached: " + std::string(r.status().message()));
  }
  return parseIssued(r->status, r->body, renewal, options_.cluster);
}

void CredentialManager::run() {
  auto creds = obtain();
  if (!creds) return;
  auto ctx = context(*creds);
  if (!ctx.ok()) {
    fatal(absl::InvalidArgumentError("the enrolled certificate cannot be used for the tunnel: " +
                                     std::string(ctx.status().message())));
    return;
  }
  source_ = net::TlsSource::fixed("tunnel", *ctx);
  metrics_->certificateExpiry(notAfterOf(creds->cert_pem));
  if (on_ready_) on_ready_(source_);
  renewForever(std::move(*creds));
}

std::optional<Credentials> CredentialManager::obtain() {
  std::mt19937_64 rng(std::random_device{}());
  net::Backoff backoff(options_.retry_base, options_.retry_max);
  std::string why = "nothing is stored yet";
  for (;;) {
    auto loaded = store_->load();
    if (loaded.ok() && *loaded) {
      absl::Status usable = checkCredentials(**loaded, options_.cluster, nowSeconds());
      if (usable.ok()) {
        log::info("using the stored credentials", {{"store", store_->describe()},
                                                   {"cluster", options_.cluster},
                                                   {"serial", serialOf((*loaded)->cert_pem)},
                                                   {"not_after", notAfterOf((*loaded)->cert_pem)}});
        return std::move(**loaded);
      }
      why = "the stored credentials cannot be used: " + std::string(usable.message());
      log::warn("the stored credentials cannot be used",
                {{"store", store_->describe()}, {"reason", usable.message()}});
      break;
    }
    if (loaded.ok()) break;
    if (absl::IsFailedPrecondition(loaded.status()) || absl::IsInvalidArgument(loaded.status())) {
      why = std::string(loaded.status().message());
      log::warn("the stored credentials cannot be used",
                {{"store", store_->describe()}, {"reason", why}});
      break;
    }
    // Unreachable or forbidden: enrolling now would burn the token on credentials that cannot
    // be stored, so wait for the store.
    auto delay = backoff.next(rng);
    log::warn("cannot read the stored credentials; retrying", {{"store", store_->describe()},
                                                               {"error", loaded.status().message()},
                                                               {"attempt", backoff.attempts()},
                                                               {"retry_in_ms", delay.count()}});
    if (!sleepFor(delay)) return std::nullopt;
  }
  return enrol(why);
}

std::optional<Credentials> CredentialManager::enrol(const std::string& why) {
  if (options_.bootstrap_token.empty()) {
    fatal(absl::FailedPreconditionError(
        "no usable credentials in " + store_->describe() + " (" + why +
        ") and no bootstrap token to enrol with: make one with `kubehubctl cluster install " +
        options_.cluster + "` and give it with --bootstrap-token-file or KUBEHUB_BOOTSTRAP_TOKEN"));
    return std::nullopt;
  }
  auto started = std::chrono::steady_clock::now();
  // The key is made here and goes only to the store: the metaserver sees the CSR.
  auto kc = auth::makeKeyAndCsr(options_.cluster);
  if (!kc.ok()) {
    fatal(kc.status());
    return std::nullopt;
  }
  log::info("enrolling with the metaserver",
            {{"metaserver", options_.metaserver_url}, {"cluster", options_.cluster}});
  std::mt19937_64 rng(std::random_device{}());
  net::Backoff backoff(options_.retry_base, options_.retry_max);
  const std::string path = "/api/v1/clusters/" + options_.cluster + "/certificate";
  IssuedCertificate issued;
  for (;;) {
    auto r = post(path, enrolmentBody(kc->csr_pem), false);
    if (r.ok()) {
      issued = std::move(*r);
      break;
    }
    if (!absl::IsUnavailable(r.status())) {
      fatal(r.status());
      return std::nullopt;
    }
    auto delay = backoff.next(rng);
    log::warn("enrolment failed; retrying", {{"metaserver", options_.metaserver_url},
                                             {"error", r.status().message()},
                                             {"attempt", backoff.attempts()},
                                             {"retry_in_ms", delay.count()}});
    if (!sleepFor(delay)) return std::nullopt;
  }
  Credentials creds{issued.cert_pem, kc->key_pem, issued.ca_pem};
  if (auto s = checkCredentials(creds, options_.cluster, nowSeconds()); !s.ok()) {
    fatal(absl::InternalError("the metaserver signed a certificate this agent cannot use: " +
                              std::string(s.message())));
    return std::nullopt;
  }
  if (auto s = store_->save(creds); !s.ok()) {
    // The token is spent: keep the credentials in memory and keep trying to store them.
    unsaved_ = true;
    log::error(
        "enrolled, but the credentials could not be stored; the agent keeps them in memory and "
        "retries (a restart before they are stored needs a new bootstrap token)",
        {{"store", store_->describe()}, {"error", s.message()}});
  }
  double took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
  log::info("enrolled", {{"cluster", options_.cluster},
                         {"serial", serialOf(creds.cert_pem)},
                         {"not_after", notAfterOf(creds.cert_pem)},
                         {"store", store_->describe()},
                         {"took_ms", static_cast<int64_t>(took_ms)}});
  return creds;
}

void CredentialManager::renewForever(Credentials current) {
  std::mt19937_64 rng(std::random_device{}());
  net::Backoff backoff(options_.retry_base, options_.retry_max);
  net::Backoff save_backoff(options_.retry_base, options_.retry_max);
  const std::string path = "/api/v1/clusters/" + options_.cluster + "/certificate/renew";
  auto validity = auth::certificateValidity(current.cert_pem);
  if (!validity.ok()) return;
  int64_t due = auth::renewalTime(*validity);
  log::info("certificate renewal scheduled", {{"serial", serialOf(current.cert_pem)},
                                              {"renew_at", due},
                                              {"renew_in_s", due - nowSeconds()},
                                              {"not_after", validity->not_after}});
  std::optional<int64_t> save_at;
  if (unsaved_) save_at = nowSeconds();
  for (;;) {
    // Sleep in steps of at most a minute, so a wall clock that jumps is followed.
    int64_t wake = save_at ? std::min(due, *save_at) : due;
    int64_t now = nowSeconds();
    if (wake > now) {
      if (!sleepFor(std::chrono::seconds(std::min<int64_t>(wake - now, 60)))) return;
      continue;
    }
    if (save_at && *save_at <= now) {
      if (auto s = store_->save(current); s.ok()) {
        unsaved_ = false;
        save_at.reset();
        save_backoff.reset();
        log::info("credentials stored", {{"store", store_->describe()}});
      } else {
        auto delay = save_backoff.next(rng);
        save_at = nowSeconds() + std::max<int64_t>(1, delay.count() / 1000);
        log::error("the credentials in use are still not stored; retrying",
                   {{"store", store_->describe()},
                    {"error", s.message()},
                    {"attempt", save_backoff.attempts()}});
      }
      continue;
    }
    // Renewal is due.
    auto started = std::chrono::steady_clock::now();
    auto kc = auth::makeKeyAndCsr(options_.cluster);
    absl::StatusOr<IssuedCertificate> issued = absl::UnknownError("no CSR");
    if (!kc.ok()) {
      issued = kc.status();
    } else {
      auto body = renewalBody(current, options_.cluster, kc->csr_pem, nowSeconds());
      issued = body.ok() ? post(path, *body, true) : body.status();
    }
    Credentials next;
    if (issued.ok()) {
      next = Credentials{issued->cert_pem, kc->key_pem, issued->ca_pem};
      if (auto s = checkCredentials(next, options_.cluster, nowSeconds()); !s.ok()) {
        issued = absl::InternalError("the renewed certificate cannot be used: " +
                                     std::string(s.message()));
      }
    }
    absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> ctx =
        issued.ok() ? context(next) : issued.status();
    if (!ctx.ok()) {
      metrics_->certificateRenewal(false);
      auto delay = backoff.next(rng);
      int64_t left = validity->not_after - nowSeconds();
      // Never wait past the expiry for the next try, and never less than a second.
      int64_t retry_s = std::max<int64_t>(1, delay.count() / 1000);
      if (left > 0) retry_s = std::min<int64_t>(retry_s, std::max<int64_t>(1, left / 2));
      due = nowSeconds() + retry_s;
      std::string serial = serialOf(current.cert_pem);
      std::initializer_list<log::Field> fields = {{"serial", serial},
                                                  {"error", ctx.status().message()},
                                                  {"attempt", backoff.attempts()},
                                                  {"retry_in_s", retry_s},
                                                  {"expires_in_s", left},
                                                  {"metaserver", options_.metaserver_url}};
      if (left > 0) {
        log::warn("certificate renewal failed; retrying (open tunnels are not affected)", fields);
      } else {
        log::error(
            "certificate renewal failed and the certificate has expired: new tunnels will be "
            "refused; open ones keep working until they drop. Fix what the error says, or enrol "
            "again with a new bootstrap token (kubehubctl cluster install CLUSTER)",
            fields);
      }
      continue;
    }
    std::string previous = serialOf(current.cert_pem);
    current = std::move(next);
    source_->replace(*ctx);
    metrics_->certificateRenewal(true);
    metrics_->certificateExpiry(notAfterOf(current.cert_pem));
    backoff.reset();
    if (auto s = store_->save(current); !s.ok()) {
      unsaved_ = true;
      save_at = nowSeconds() + 1;
      log::error("the renewed certificate is in use but could not be stored; retrying",
                 {{"store", store_->describe()}, {"error", s.message()}});
    } else {
      unsaved_ = false;
      save_at.reset();
    }
    validity = auth::certificateValidity(current.cert_pem);
    if (!validity.ok()) return;
    due = auth::renewalTime(*validity);
    double took_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started)
            .count();
    log::info("certificate renewed; new tunnels present it, open ones stay up",
              {{"serial", serialOf(current.cert_pem)},
               {"previous_serial", previous},
               {"not_after", validity->not_after},
               {"next_renewal_in_s", due - nowSeconds()},
               {"took_ms", static_cast<int64_t>(took_ms)}});
  }
}

}  // namespace kubehub::agent
