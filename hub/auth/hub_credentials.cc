#include "hub/auth/hub_credentials.h"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

#include "common/auth/csr.h"
#include "common/log/log.h"
#include "common/net/http_client.h"

namespace kubehub::hub {
namespace {

using Json = nlohmann::json;

int64_t nowSeconds() { return static_cast<int64_t>(std::time(nullptr)); }

/// Retries `attempt` until it succeeds or `wait` has passed; the last error otherwise.
template <typename F>
auto retryFor(std::chrono::milliseconds wait, std::string_view what, F attempt)
    -> decltype(attempt()) {
  auto deadline = std::chrono::steady_clock::now() + wait;
  auto delay = std::chrono::milliseconds(250);
  for (int tries = 1;; ++tries) {
    auto r = attempt();
    if (r.ok() || std::chrono::steady_clock::now() + delay > deadline) return r;
    // A refusal (bad token, another hub's name) will not get better by waiting.
    if (absl::IsPermissionDenied(r.status()) || absl::IsInvalidArgument(r.status())) return r;
    if (tries == 1) {
      log::warn("metaserver not reached at start; trying again",
                {{"what", what}, {"error", r.status().message()}});
    }
    std::this_thread::sleep_for(delay);
    delay = std::min(delay * 2, std::chrono::milliseconds(4000));
  }
}

absl::Status httpError(const net::HttpClientResponse& r, std::string_view what) {
  Json err = Json::parse(r.body, nullptr, false);
  std::string msg = err.is_object() && err.contains("error") && err["error"].is_object()
                        ? err["error"].value("message", "")
                        : r.body.substr(0, 200);
  std::string text =
      std::string(what) + ": the metaserver answered HTTP " + std::to_string(r.status) + " " + msg;
  if (r.status == 401 || r.status == 403) return absl::PermissionDeniedError(text);
  if (r.status == 400 || r.status == 422) return absl::InvalidArgumentError(text);
  return absl::UnavailableError(text);
}

}  // namespace

HubCredentials::HubCredentials(HubCredentialOptions options, CredentialEvents events)
    : options_(std::move(options)),
      events_(std::move(events)),
      ca_from_metaserver_(options_.agent_ca.empty() && !options_.metaserver_url.empty()),
      enrol_(options_.peer_enabled && options_.peer_tls_cert.empty() &&
             options_.peer_tls_key.empty()) {}

HubCredentials::~HubCredentials() {
  {
    std::lock_guard lock(run_mu_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

absl::StatusOr<std::unique_ptr<HubCredentials>> HubCredentials::create(HubCredentialOptions options,
                                                                       CredentialEvents events) {
  std::unique_ptr<HubCredentials> c(new HubCredentials(std::move(options), std::move(events)));
  if (auto s = c->init(); !s.ok()) return s;
  return c;
}

std::string HubCredentials::agentCaPem() const {
  std::lock_guard lock(mu_);
  return metaserver_ca_;
}

absl::StatusOr<std::string> HubCredentials::fetchCa() {
  net::HttpClientOptions co;
  co.tls = options_.metaserver_tls;
  co.timeout = options_.request_timeout;
  auto client = net::HttpClient::create(options_.metaserver_url, co);
  if (!client.ok()) return client.status();
  auto r = (*client)->request("GET", "/api/v1/ca.crt", "", {{"Accept", "application/x-pem-file"}});
  if (!r.ok())
    return absl::UnavailableError("fetching the tunnel CA: " + std::string(r.status().message()));
  if (r->status != 200) return httpError(*r, "fetching the tunnel CA");
  if (r->body.find("BEGIN CERTIFICATE") == std::string::npos) {
    return absl::DataLossError("the metaserver's CA answer is not a PEM certificate");
  }
  return r->body;
}

absl::Status HubCredentials::enrol() {
  auto key_csr = auth::makeKeyAndCsr(options_.hub_id);
  if (!key_csr.ok()) return key_csr.status();
  net::HttpClientOptions co;
  co.tls = options_.metaserver_tls;
  co.timeout = options_.request_timeout;
  auto client = net::HttpClient::create(options_.metaserver_url, co);
  if (!client.ok()) return client.status();
  std::string what = "enrolling the peer certificate of hub \"" + options_.hub_id + "\"";
  auto r =
      (*client)->request("POST", "/api/v1/hubs/" + options_.hub_id + "/certificate",
                         Json{{"csr", key_csr->csr_pem}}.dump(),
                         {{"Authorization", "Bearer " + (options_.metaserver_token_source
                                                             ? options_.metaserver_token_source()
                                                             : options_.metaserver_token)},
                          {"Content-Type", "application/json"},
                          {"Accept", "application/json"}});
  if (!r.ok()) return absl::UnavailableError(what + ": " + std::string(r.status().message()));
  if (r->status != 201 && r->status != 200) return httpError(*r, what);
  Json j = Json::parse(r->body, nullptr, false);
  if (!j.is_object() || !j.contains("certificate") || !j["certificate"].is_string()) {
    return absl::DataLossError(what + ": the answer has no certificate");
  }
  std::string cert = j["certificate"].get<std::string>();
  std::string ca = j.value("caCert", std::string());
  auto validity = auth::certificateValidity(cert);
  if (!validity.ok())
    return absl::DataLossError(what + ": " + std::string(validity.status().message()));

  // Peers are trusted by the hubs' CA: the file given, else the agents' CA file, else the CA
  // the metaserver signs with.
  std::string ca_file = options_.peer_ca.empty() ? options_.agent_ca : options_.peer_ca;
  net::ServerTlsOptions server;
  server.cert_pem = cert;
  server.key_pem = key_csr->key_pem;
  server.client_ca_file = ca_file;
  if (ca_file.empty()) server.client_ca_pem = ca;
  auto server_ctx = net::makeServerContext(server);
  if (!server_ctx.ok()) return server_ctx.status();
  net::ClientTlsOptions client_tls;
  client_tls.ca_file = ca_file;
  if (ca_file.empty()) client_tls.ca_pem = ca;
  client_tls.cert_pem = cert;
  client_tls.key_pem = key_csr->key_pem;
  auto client_ctx = net::makeClientContext(client_tls);
  if (!client_ctx.ok()) return client_ctx.status();

  int64_t renew_at = auth::renewalTime(*validity, nowSeconds());
  {
    std::lock_guard lock(mu_);
    peer_cert_pem_ = cert;
    peer_key_pem_ = key_csr->key_pem;
    renew_at_ = renew_at;
  }
  if (!peer_server_) {
    peer_server_ = net::TlsSource::fixed("peer server", *server_ctx);
    peer_client_ = net::TlsSource::fixed("peer client", *client_ctx);
  } else {
    peer_server_->replace(*server_ctx);
    peer_client_->replace(*client_ctx);
  }
  log::info("peer certificate enrolled with the metaserver; links dialed from now on present it",
            {{"hub_id", options_.hub_id},
             {"serial", j.value("serial", std::string())},
             {"not_after", validity->not_after},
             {"renew_in_seconds", renew_at - nowSeconds()}});
  return absl::OkStatus();
}

absl::Status HubCredentials::init() {
  if (options_.agent_ca.empty() && options_.metaserver_url.empty()) {
    return absl::InvalidArgumentError(
        "--agent-ca is required without --metaserver-url (the CA that signs agents' client "
        "certificates)");
  }
  if (options_.peer_enabled && options_.peer_tls_cert.empty() != options_.peer_tls_key.empty()) {
    return absl::InvalidArgumentError(
        "--peer-tls-cert and --peer-tls-key go together (or give neither: the hub then enrols "
        "its own peer certificate with the metaserver)");
  }
  if (enrol_ && options_.metaserver_url.empty()) {
    return absl::InvalidArgumentError(
        "peering without --peer-tls-cert needs --metaserver-url: the hub enrols its peer "
        "certificate there");
  }
  if (ca_from_metaserver_) {
    auto ca = retryFor(options_.start_wait, "tunnel CA", [this] { return fetchCa(); });
    if (!ca.ok()) {
      return absl::UnavailableError(
          "without --agent-ca the hub trusts the metaserver's tunnel CA, which it could not "
          "fetch: " +
          std::string(ca.status().message()));
    }
    metaserver_ca_ = std::move(*ca);
    next_ca_refresh_ = nowSeconds() + options_.ca_refresh_interval.count() / 1000;
  }

  std::string cert = options_.tls_cert, key = options_.tls_key;
  auto users = net::TlsSource::fromFiles("users", {cert, key}, [cert, key] {
    return net::makeServerContext({cert, key, ""});
  });
  if (!users.ok()) return users.status();
  users_ = std::move(*users);

  std::string tcert = options_.tunnel_tls_cert.empty() ? cert : options_.tunnel_tls_cert;
  std::string tkey = options_.tunnel_tls_key.empty() ? key : options_.tunnel_tls_key;
  std::vector<std::string> tunnel_files = {tcert, tkey};
  if (!options_.agent_ca.empty()) tunnel_files.push_back(options_.agent_ca);
  auto tunnel = net::TlsSource::fromFiles("tunnel", tunnel_files, [this, tcert, tkey] {
    net::ServerTlsOptions o{tcert, tkey, options_.agent_ca};
    if (ca_from_metaserver_) o.client_ca_pem = agentCaPem();
    return net::makeServerContext(o);
  });
  if (!tunnel.ok()) return tunnel.status();
  tunnel_ = std::move(*tunnel);

  if (!options_.peer_enabled) return absl::OkStatus();
  if (enrol_) {
    auto enrolled =
        retryFor(options_.start_wait, "peer certificate", [this]() -> absl::StatusOr<bool> {
          if (auto s = enrol(); !s.ok()) return s;
          return true;
        });
    if (events_.enrolment) events_.enrolment(enrolled.ok());
    if (!enrolled.ok()) return enrolled.status();
    return absl::OkStatus();
  }
  std::string pcert = options_.peer_tls_cert, pkey = options_.peer_tls_key;
  std::string pca = options_.peer_ca.empty() ? options_.agent_ca : options_.peer_ca;
  std::vector<std::string> peer_files = {pcert, pkey};
  if (!pca.empty()) peer_files.push_back(pca);
  auto server = net::TlsSource::fromFiles("peer server", peer_files, [this, pcert, pkey, pca] {
    net::ServerTlsOptions o{pcert, pkey, pca};
    if (pca.empty()) o.client_ca_pem = agentCaPem();
    return net::makeServerContext(o);
  });
  if (!server.ok()) return server.status();
  peer_server_ = std::move(*server);
  auto client = net::TlsSource::fromFiles("peer client", peer_files, [this, pcert, pkey, pca] {
    net::ClientTlsOptions o;
    o.ca_file = pca;
    if (pca.empty()) o.ca_pem = agentCaPem();
    o.cert_file = pcert;
    o.key_file = pkey;
    return net::makeClientContext(o);
  });
  if (!client.ok()) return client.status();
  peer_client_ = std::move(*client);
  return absl::OkStatus();
}

std::vector<std::shared_ptr<net::TlsSource>> HubCredentials::sources() const {
  std::vector<std::shared_ptr<net::TlsSource>> out = {users_, tunnel_};
  if (peer_server_) out.push_back(peer_server_);
  if (peer_client_) out.push_back(peer_client_);
  return out;
}

void HubCredentials::caChanged() {
  for (const auto& source : sources()) {
    if (source->files().empty()) continue;  // enrolled: rebuilt by the next enrolment
    auto s = source->rebuild();
    if (events_.reload) events_.reload(*source, s.ok());
    if (!s.ok()) {
      log::error("the metaserver's tunnel CA changed but the certificate could not be rebuilt",
                 {{"source", source->name()}, {"error", s.message()}});
    }
  }
  if (enrol_) {
    // The enrolled contexts trust the CA they were issued with: enrol again under the new one.
    std::lock_guard lock(mu_);
    renew_at_ = 0;
  }
}

void HubCredentials::pollOnce() {
  int64_t now = nowSeconds();
  auto steady = std::chrono::steady_clock::now();
  if (options_.reload_interval.count() > 0 && steady >= next_files_) {
    next_files_ = steady + options_.reload_interval;
    // The file-backed sources; enrolled ones have no files and are skipped.
    if (!files_) {
      files_ = std::make_unique<net::TlsReloader>(sources(), std::chrono::milliseconds(0),
                                                  events_.reload);
    }
    files_->pollOnce();
  }
  if (ca_from_metaserver_ && now >= next_ca_refresh_) {
    next_ca_refresh_ = now + std::max<int64_t>(options_.ca_refresh_interval.count() / 1000, 1);
    auto ca = fetchCa();
    if (!ca.ok()) {
      log::warn("could not refresh the tunnel CA from the metaserver; keeping the one in force",
                {{"error", ca.status().message()}});
    } else if (*ca != agentCaPem()) {
      {
        std::lock_guard lock(mu_);
        metaserver_ca_ = *ca;
      }
      log::warn("the metaserver's tunnel CA changed; trusting the new one for new connections");
      caChanged();
    }
  }
  if (enrol_) {
    int64_t renew_at, retry_at;
    {
      std::lock_guard lock(mu_);
      renew_at = renew_at_;
      retry_at = retry_at_;
    }
    if (now >= renew_at && now >= retry_at) {
      absl::Status s = enrol();
      if (events_.enrolment) events_.enrolment(s.ok());
      std::lock_guard lock(mu_);
      if (s.ok()) {
        retry_delay_ = std::chrono::seconds(5);
        retry_at_ = 0;
      } else {
        log::error(
            "renewing the peer certificate failed; links keep the current one and it is "
            "tried again",
            {{"hub_id", options_.hub_id},
             {"error", s.message()},
             {"retry_in_seconds", retry_delay_.count()},
             {"expires_in_seconds", (peer_server_ ? peer_server_->notAfter() : 0) - now}});
        retry_at_ = now + retry_delay_.count();
        retry_delay_ = std::min(retry_delay_ * 2, std::chrono::seconds(300));
      }
    }
  }
}

void HubCredentials::start() {
  if (thread_.joinable()) return;
  bool needed = options_.reload_interval.count() > 0 || ca_from_metaserver_ || enrol_;
  if (!needed) return;
  thread_ = std::thread([this] { run(); });
}

void HubCredentials::run() {
  // A one-second tick: files are compared only every reload interval, renewals and CA
  // refreshes are due at their own times.
  auto file_every = options_.reload_interval.count() > 0
                        ? options_.reload_interval
                        : std::chrono::milliseconds(std::chrono::hours(24 * 365));
  auto tick = std::min<std::chrono::milliseconds>(file_every, std::chrono::seconds(1));
  std::unique_lock lock(run_mu_);
  while (!stop_) {
    if (cv_.wait_for(lock, tick, [this] { return stop_; })) break;
    lock.unlock();
    pollOnce();
    lock.lock();
  }
}

}  // namespace kubehub::hub
