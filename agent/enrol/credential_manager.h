#pragma once
/// The enrolled agent's client certificate over its life. At start: the stored credentials
/// when they are usable (key matches, in force, an agent certificate of this cluster), else an
/// enrolment: a key and CSR made here, the CSR sent to the metaserver with the one-time
/// bootstrap token, certificate + key + CA stored. Then, two thirds into each certificate's
/// lifetime, a renewal: a new key and CSR, authenticated by a proof signed with the current key
/// (common/auth/renewal_proof.h), retried with backoff; the new certificate is stored and
/// replaces the TlsSource's context, so the next tunnels present it and open ones stay up.
/// Runs on its own thread (requests to the metaserver and the store block); the TlsSource is
/// the only thing it shares.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/statusor.h"
#include "agent/enrol/credential_store.h"
#include "agent/metrics/agent_metrics.h"
#include "common/net/tls.h"
#include "common/net/tls_source.h"

namespace kubehub::agent {

struct EnrolmentOptions {
  std::string cluster;
  /// https://HOST[:PORT] (or http:// for a metaserver with --insecure-http).
  std::string metaserver_url;
  net::ClientTlsOptions metaserver_tls;
  /// One-time token from `kubehubctl cluster install|bootstrap`; only needed when nothing
  /// usable is stored.
  std::string bootstrap_token;
  /// CA bundle of the hubs' serving certificates for the tunnel context (empty: system roots).
  std::string hub_ca_file;
  std::chrono::milliseconds retry_base{1000};
  std::chrono::milliseconds retry_max{300000};
  /// Bounds each request (and how long a shutdown may wait for one in flight).
  std::chrono::milliseconds request_timeout{15000};
};

/// What the metaserver signed.
struct IssuedCertificate {
  std::string cert_pem;
  std::string ca_pem;
  std::string serial;
};

/// The JSON body of an enrolment (POST /api/v1/clusters/CLUSTER/certificate).
std::string enrolmentBody(const std::string& csr_pem);
/// The JSON body of a renewal (POST /api/v1/clusters/CLUSTER/certificate/renew): the new CSR,
/// the current certificate, and a proof signed at `now` with the current key.
absl::StatusOr<std::string> renewalBody(const Credentials& current, std::string_view cluster,
                                        const std::string& csr_pem, int64_t now);
/// The metaserver's answer to either. Errors say what to do: PermissionDenied for a refused
/// bootstrap token or proof, NotFound for an unknown cluster, Unavailable for what may pass
/// (5xx, 429: retry), and the server's message otherwise.
absl::StatusOr<IssuedCertificate> parseIssued(int status, const std::string& body, bool renewal,
                                              std::string_view cluster);

class CredentialManager {
 public:
  /// Called once, on the manager's thread, with the source new tunnels take their context from.
  using OnReady = std::function<void(std::shared_ptr<net::TlsSource>)>;
  /// Called at most once, on the manager's thread, when the agent cannot get credentials at all
  /// (e.g. its bootstrap token was refused and nothing usable is stored).
  using OnFatal = std::function<void(absl::Status)>;

  CredentialManager(EnrolmentOptions options, std::unique_ptr<CredentialStore> store,
                    std::shared_ptr<AgentMetrics> metrics);
  ~CredentialManager();
  CredentialManager(const CredentialManager&) = delete;
  CredentialManager& operator=(const CredentialManager&) = delete;

  void start(OnReady on_ready, OnFatal on_fatal);

 private:
  void run();
  /// Stored credentials when usable, else enrolled ones; nullopt when stopping or fatal.
  std::optional<Credentials> obtain();
  std::optional<Credentials> enrol(const std::string& why);
  void renewForever(Credentials current);
  absl::StatusOr<IssuedCertificate> post(const std::string& path, const std::string& body,
                                         bool renewal);
  absl::StatusOr<std::shared_ptr<boost::asio::ssl::context>> context(const Credentials& c) const;
  /// Sleeps `d` unless stopped; false once stopping.
  bool sleepFor(std::chrono::milliseconds d);
  void fatal(absl::Status status);

  EnrolmentOptions options_;
  std::unique_ptr<CredentialStore> store_;
  std::shared_ptr<AgentMetrics> metrics_;
  OnReady on_ready_;
  OnFatal on_fatal_;
  std::shared_ptr<net::TlsSource> source_;
  /// Credentials held in memory that the store has not taken yet.
  bool unsaved_ = false;

  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace kubehub::agent
