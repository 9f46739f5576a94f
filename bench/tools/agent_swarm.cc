// kubehub-agent-swarm: N simulated agents in one process, for the hub's memory-per-agent and
// reconnect-storm benchmarks (bench/kubehub_bench/). Each agent is a real tunnel: TCP, mutual TLS
// with its own client certificate (CN = its cluster name, signed here in memory by the CA given
// on the command line), the WebSocket upgrade, HELLO/WELCOME, then the tunnel Mux, which
// answers the hub's pings. Discovery is answered with an empty resource list (or not at all),
// streams are refused: the agents are idle. A dropped tunnel is redialled with the real
// agent's backoff (exponential, full jitter, reset after a stable tunnel).
//
// Progress: one line per --status-interval on stdout, and the same numbers as JSON in
// --status-file (rewritten atomically) for the benchmark script to poll.

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/resource.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/address.h"
#include "common/net/backoff.h"
#include "common/net/server_main.h"
#include "common/tunnel/client_handshake.h"
#include "common/tunnel/mux.h"
#include "common/tunnel/ws_transport.h"
#include "proto/control.h"
#include "proto/frame.h"
#include "proto/handshake.h"

namespace asio = boost::asio;
using namespace kubehub;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string hub_url;
  std::string hub_ca;
  std::string ca_cert;
  std::string ca_key;
  int64_t count = 1000;
  std::string prefix = "swarm-";
  int64_t threads = 1;
  int64_t ramp_concurrency = 128;
  std::chrono::milliseconds dial_timeout{10000};
  std::chrono::milliseconds backoff_base{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds stable_after{30000};
  std::chrono::milliseconds status_interval{1000};
  std::string status_file;
  bool discovery = true;
  bool release_buffers = false;
  std::string log_level = "warn";

  absl::Status validate() const {
    if (hub_url.empty())
      return absl::InvalidArgumentError("--hub-url is required (wss://HOST:PORT/tunnel)");
    if (hub_ca.empty())
      return absl::InvalidArgumentError("--hub-ca is required (CA of the hub's certificate)");
    if (ca_cert.empty() || ca_key.empty()) {
      return absl::InvalidArgumentError(
          "--ca-cert and --ca-key are required (the hub's agent CA, to sign agents' certificates)");
    }
    if (count < 1 || count > 1'000'000)
      return absl::InvalidArgumentError("--count must be in 1..1000000");
    if (threads < 1 || threads > 64)
      return absl::InvalidArgumentError("--threads must be in 1..64");
    if (ramp_concurrency < 1)
      return absl::InvalidArgumentError("--ramp-concurrency must be at least 1");
    return absl::OkStatus();
  }
};

struct Counters {
  std::atomic<int64_t> connected{0};
  std::atomic<int64_t> dialing{0};
  std::atomic<int64_t> ever_connected{0};
  std::atomic<int64_t> sessions{0};
  std::atomic<int64_t> dial_failures{0};
  std::atomic<int64_t> handshake_failures{0};
  std::atomic<int64_t> drops{0};
};

/// Shared by every agent coroutine; read-only after start except the counters and the channel.
struct Swarm {
  Options options;
  net::Url hub;
  std::vector<std::string> clusters;
  std::vector<std::shared_ptr<asio::ssl::context>> tls;
  Counters counters;
  /// Bounds concurrent first dials: a token is sent to dial and received back when done.
  std::unique_ptr<asio::experimental::concurrent_channel<void(boost::system::error_code)>> ramp;
  Clock::time_point started = Clock::now();
};

// ---- certificates, signed in memory ----

struct OpenSslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509_STORE* p) const { X509_STORE_free(p); }
};
using X509Ptr = std::unique_ptr<X509, OpenSslFree>;
using KeyPtr = std::unique_ptr<EVP_PKEY, OpenSslFree>;

std::string openSslError() {
  unsigned long err = ERR_get_error();
  if (err == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(err, buf, sizeof(buf));
  return buf;
}

absl::StatusOr<X509Ptr> readCertificate(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::InvalidArgumentError("cannot read " + path);
  X509* cert = PEM_read_X509(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (cert == nullptr) return absl::InvalidArgumentError(path + ": " + openSslError());
  return X509Ptr(cert);
}

absl::StatusOr<KeyPtr> readKey(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return absl::InvalidArgumentError("cannot read " + path);
  EVP_PKEY* key = PEM_read_PrivateKey(f, nullptr, nullptr, nullptr);
  std::fclose(f);
  if (key == nullptr) return absl::InvalidArgumentError(path + ": " + openSslError());
  return KeyPtr(key);
}

bool addExtension(X509* cert, X509* issuer, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (ext == nullptr) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

/// A client certificate for `cn`, valid for two days, signed by the CA. Every agent shares one
/// key pair (generating 10,000 keys would only slow the start; the hub never compares keys).
absl::StatusOr<X509Ptr> issueClientCertificate(const std::string& cn, long serial, EVP_PKEY* key,
                                               X509* ca, EVP_PKEY* ca_key) {
  X509Ptr cert(X509_new());
  if (!cert) return absl::InternalError("X509_new failed");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 2L * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  // The hub takes only certificates marked as agents' as a cluster's identity.
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("kubehub:agents"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca));
  if (!addExtension(cert.get(), ca, NID_basic_constraints, "critical,CA:FALSE") ||
      !addExtension(cert.get(), ca, NID_key_usage, "critical,digitalSignature") ||
      !addExtension(cert.get(), ca, NID_ext_key_usage, "clientAuth")) {
    return absl::InternalError("adding certificate extensions: " + openSslError());
  }
  if (X509_sign(cert.get(), ca_key, EVP_sha256()) == 0) {
    return absl::InternalError("signing a certificate for " + cn + ": " + openSslError());
  }
  return cert;
}

/// One TLS client context per agent (the dialer takes a context; the certificate is what
/// differs). They share one trust store so the hub's CA is parsed once.
absl::StatusOr<std::shared_ptr<asio::ssl::context>> agentContext(X509* cert, EVP_PKEY* key,
                                                                 X509_STORE* store,
                                                                 bool release_buffers) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  ctx->set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                   asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 |
                   asio::ssl::context::no_tlsv1_1);
  ctx->set_verify_mode(asio::ssl::verify_peer);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set1_cert_store(native, store);
  // An experiment, off by default (the agent does not set it): OpenSSL frees a connection's
  // record buffers while it is idle. Comparing the swarm's own memory per tunnel with and
  // without shows what the same mode would save per tunnel in the hub.
  if (release_buffers) SSL_CTX_set_mode(native, SSL_MODE_RELEASE_BUFFERS);
  if (SSL_CTX_use_certificate(native, cert) != 1 || SSL_CTX_use_PrivateKey(native, key) != 1) {
    return absl::InternalError("loading an agent certificate: " + openSslError());
  }
  return ctx;
}

absl::Status prepareAgents(Swarm& swarm) {
  const Options& o = swarm.options;
  auto ca = readCertificate(o.ca_cert);
  if (!ca.ok()) return ca.status();
  auto ca_key = readKey(o.ca_key);
  if (!ca_key.ok()) return ca_key.status();
  KeyPtr key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError("generating a P-256 key: " + openSslError());
  std::unique_ptr<X509_STORE, OpenSslFree> store(X509_STORE_new());
  if (X509_STORE_load_file(store.get(), o.hub_ca.c_str()) != 1) {
    return absl::InvalidArgumentError("--hub-ca " + o.hub_ca + ": " + openSslError());
  }
  // A random serial base, so two runs never issue the same (issuer, serial) pair.
  std::mt19937_64 rng(std::random_device{}());
  long serial_base = static_cast<long>(rng() % 1'000'000'000) * 1000;
  swarm.clusters.reserve(static_cast<size_t>(o.count));
  swarm.tls.reserve(static_cast<size_t>(o.count));
  for (int64_t i = 0; i < o.count; ++i) {
    char suffix[32];
    std::snprintf(suffix, sizeof(suffix), "%05lld", static_cast<long long>(i));
    std::string cluster = o.prefix + suffix;
    auto cert =
        issueClientCertificate(cluster, serial_base + i, key.get(), ca->get(), ca_key->get());
    if (!cert.ok()) return cert.status();
    auto ctx = agentContext(cert->get(), key.get(), store.get(), o.release_buffers);
    if (!ctx.ok()) return ctx.status();
    swarm.clusters.push_back(std::move(cluster));
    swarm.tls.push_back(std::move(*ctx));
  }
  return absl::OkStatus();
}

// ---- one agent ----

void onControl(std::weak_ptr<tunnel::Mux> weak_mux, bool answer_discovery, std::string message) {
  auto mux = weak_mux.lock();
  if (!mux) return;
  if (!answer_discovery) return;
  auto request = proto::parseDiscoveryRequest(message);
  if (!request.ok()) return;
  proto::DiscoveryResponse response;
  response.id = request->id;
  response.server_version = {{"major", "1"}, {"minor", "32"}, {"gitVersion", "v1.32.0-swarm"}};
  mux->sendControl(proto::encodeDiscoveryResponse(response));
}

void refuseStream(std::shared_ptr<tunnel::Stream> stream, proto::RequestHead) {
  stream->reset(proto::ResetCode::kUpstreamUnavailable, "simulated agent serves no requests");
}

/// HELLO/WELCOME, then the Mux until the tunnel ends. Returns whether the tunnel came up.
asio::awaitable<bool> session(std::shared_ptr<Swarm> swarm, size_t index,
                              std::unique_ptr<tunnel::Transport> transport) {
  const std::string& cluster = swarm->clusters[index];
  proto::Hello hello;
  hello.protocol = proto::kProtocolVersion;
  hello.cluster = cluster;
  hello.agent_version = "0.1.0-swarm";
  hello.capabilities.emplace_back("stream.v1");
  const std::chrono::milliseconds welcome_timeout(10000);
  auto made = co_await tunnel::clientHandshake(*transport, hello, welcome_timeout);
  if (!made.welcome) {
    if (made.refusal) {
      log::warn("hub refused a simulated agent",
                {{"cluster", cluster}, {"reason", made.refusal->reason}});
    } else {
      log::debug("handshake failed", {{"cluster", cluster}, {"error", made.error}});
    }
    co_return false;
  }
  auto mux = std::make_shared<tunnel::Mux>(std::move(transport),
                                           tunnel::agentMuxOptions(*made.welcome, cluster));
  mux->setOpenHandler(refuseStream);
  bool answer = swarm->options.discovery;
  mux->setControlHandler([weak = std::weak_ptr<tunnel::Mux>(mux), answer](std::string m) {
    onControl(weak, answer, std::move(m));
  });
  swarm->counters.connected++;
  swarm->counters.ever_connected++;
  swarm->counters.sessions++;
  std::string reason = co_await mux->run();
  swarm->counters.connected--;
  swarm->counters.drops++;
  log::info("simulated tunnel down", {{"cluster", cluster}, {"reason", reason}});
  co_return true;
}

asio::awaitable<void> runAgent(std::shared_ptr<Swarm> swarm, size_t index) {
  auto ex = co_await asio::this_coro::executor;
  const Options& o = swarm->options;
  std::mt19937_64 rng(std::random_device{}() ^ (index * 0x9e3779b97f4a7c15ull));
  net::Backoff backoff(o.backoff_base, o.backoff_max);
  asio::steady_timer timer(ex);
  bool ramping = true;
  for (;;) {
    if (ramping) {
      auto [sec] = co_await swarm->ramp->async_send(boost::system::error_code{},
                                                    asio::as_tuple(asio::use_awaitable));
      (void)sec;
    }
    swarm->counters.dialing++;
    auto transport = co_await tunnel::dialTunnel(ex, swarm->tls[index], swarm->hub, o.dial_timeout);
    swarm->counters.dialing--;
    if (ramping) {
      swarm->ramp->try_receive([](boost::system::error_code) {});
      ramping = false;
    }
    if (!transport.ok()) {
      swarm->counters.dial_failures++;
      log::debug("dial failed",
                 {{"cluster", swarm->clusters[index]}, {"error", transport.status().message()}});
    } else {
      auto started = Clock::now();
      bool up = co_await session(swarm, index, std::move(*transport));
      if (!up) swarm->counters.handshake_failures++;
      if (Clock::now() - started >= o.stable_after) backoff.reset();
    }
    timer.expires_after(backoff.next(rng));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

// ---- progress ----

nlohmann::json statusJson(const Swarm& swarm) {
  const Counters& c = swarm.counters;
  double elapsed = std::chrono::duration<double>(Clock::now() - swarm.started).count();
  return {{"count", swarm.options.count},
          {"connected", c.connected.load()},
          {"dialing", c.dialing.load()},
          {"everConnected", c.ever_connected.load()},
          {"sessions", c.sessions.load()},
          {"dialFailures", c.dial_failures.load()},
          {"handshakeFailures", c.handshake_failures.load()},
          {"drops", c.drops.load()},
          {"elapsedSeconds", elapsed}};
}

void writeStatus(const Swarm& swarm) {
  nlohmann::json j = statusJson(swarm);
  std::printf("swarm connected=%lld dialing=%lld dial_failures=%lld drops=%lld\n",
              static_cast<long long>(j["connected"].get<int64_t>()),
              static_cast<long long>(j["dialing"].get<int64_t>()),
              static_cast<long long>(j["dialFailures"].get<int64_t>()),
              static_cast<long long>(j["drops"].get<int64_t>()));
  std::fflush(stdout);
  const std::string& path = swarm.options.status_file;
  if (path.empty()) return;
  std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << j.dump() << "\n";
  }
  std::rename(tmp.c_str(), path.c_str());
}

asio::awaitable<void> reportLoop(std::shared_ptr<Swarm> swarm) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    writeStatus(*swarm);
    timer.expires_after(swarm->options.status_interval);
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return;
  }
}

/// Each tunnel is one file descriptor; raise the soft limit (and the hard one when allowed).
void raiseFileLimit(int64_t needed) {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return;
  rlim_t want = static_cast<rlim_t>(needed);
  if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
    rlimit raised{want, want};
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) return;
  }
  rl.rlim_cur =
      rl.rlim_max == RLIM_INFINITY ? want : std::min(rl.rlim_max, std::max(rl.rlim_cur, want));
  setrlimit(RLIMIT_NOFILE, &rl);
  getrlimit(RLIMIT_NOFILE, &rl);
  if (rl.rlim_cur < want) {
    log::warn("file descriptor limit below what the swarm needs",
              {{"limit", static_cast<int64_t>(rl.rlim_cur)}, {"needed", needed}});
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  config::FlagSet flags(
      "kubehub-agent-swarm",
      "Simulated idle agents for benchmarks: N real mTLS WebSocket tunnels to one "
      "hub from one process, each with its own certificate (CN = cluster name).");
  flags.addString("hub-url", &o.hub_url, "the hub's tunnel endpoint, wss://HOST:PORT/tunnel");
  flags.addString("hub-ca", &o.hub_ca, "PEM CA bundle that signed the hub's certificate");
  flags.addString("ca-cert", &o.ca_cert,
                  "PEM certificate of the CA the hub trusts for agents (--agent-ca)");
  flags.addString("ca-key", &o.ca_key,
                  "PEM private key of that CA (signs one certificate per agent)");
  flags.addInt("count", &o.count, "number of simulated agents");
  flags.addString("prefix", &o.prefix, "cluster names are PREFIX00000, PREFIX00001, ...");
  flags.addInt("threads", &o.threads, "I/O threads");
  flags.addInt(
      "ramp-concurrency", &o.ramp_concurrency,
      "first dials in flight at once (reconnects after a drop are not limited, like a real fleet)");
  flags.addDuration("dial-timeout", &o.dial_timeout, "TCP + TLS + WebSocket upgrade deadline");
  flags.addDuration("backoff-base", &o.backoff_base,
                    "reconnect backoff base (the agent's default)");
  flags.addDuration("backoff-max", &o.backoff_max, "reconnect backoff cap (the agent's default)");
  flags.addDuration("stable-after", &o.stable_after, "a tunnel up this long resets the backoff");
  flags.addDuration("status-interval", &o.status_interval,
                    "how often progress is printed and written");
  flags.addString("status-file", &o.status_file, "JSON progress file, rewritten atomically");
  flags.addBool("discovery", &o.discovery,
                "answer the hub's discovery request (with no resources)");
  flags.addBool("release-buffers", &o.release_buffers,
                "experiment: SSL_MODE_RELEASE_BUFFERS on the agents' TLS (compare the swarm's "
                "memory per tunnel)");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  if (auto s = flags.parse(argc, argv); !s.ok()) net::exitWithConfigError("kubehub-agent-swarm", s);
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    net::exitWithConfigError("kubehub-agent-swarm",
                             absl::InvalidArgumentError("unexpected argument " + flags.args()[0]));
  }
  if (auto s = o.validate(); !s.ok()) net::exitWithConfigError("kubehub-agent-swarm", s);
  log::Level level;
  if (!log::parseLevel(o.log_level, &level)) {
    net::exitWithConfigError(
        "kubehub-agent-swarm",
        absl::InvalidArgumentError("--log-level must be debug, info, warn or error"));
  }
  log::init("swarm", level);
  auto url = net::parseUrl(o.hub_url);
  if (!url.ok()) net::exitWithConfigError("kubehub-agent-swarm", url.status());
  raiseFileLimit(o.count + 256);

  auto swarm = std::make_shared<Swarm>();
  swarm->options = o;
  swarm->hub = *url;
  auto prepare_started = Clock::now();
  if (auto s = prepareAgents(*swarm); !s.ok()) net::exitWithConfigError("kubehub-agent-swarm", s);
  double prepare_seconds = std::chrono::duration<double>(Clock::now() - prepare_started).count();
  std::printf("swarm prepared agents=%lld seconds=%.3f\n", static_cast<long long>(o.count),
              prepare_seconds);
  std::fflush(stdout);

  asio::io_context io(static_cast<int>(o.threads));
  swarm->ramp =
      std::make_unique<asio::experimental::concurrent_channel<void(boost::system::error_code)>>(
          io, static_cast<size_t>(o.ramp_concurrency));
  swarm->started = Clock::now();
  for (size_t i = 0; i < swarm->clusters.size(); ++i) {
    asio::co_spawn(asio::make_strand(io), runAgent(swarm, i), asio::detached);
  }
  asio::co_spawn(io, reportLoop(swarm), asio::detached);
  // No graceful close of thousands of tunnels: report and leave (the hub sees them drop).
  net::runIoContext(io, static_cast<int>(o.threads), [swarm] {
    writeStatus(*swarm);
    std::fflush(stdout);
    std::_Exit(0);
  });
  return 0;
}
