// kubehub-standin: an in-memory stand-in for an edge cluster's Kubernetes API server, for tests
// and benchmarks only. Parses options and wires the API to the HTTPS server.

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <stop_token>
#include <thread>

#include "common/config/flags.h"
#include "common/log/log.h"
#include "common/net/server_main.h"
#include "tests/standin/api_server.h"
#include "tests/standin/seed_data.h"
#include "tests/standin/server.h"

namespace {

struct Options {
  std::string listen = "127.0.0.1:0";
  std::string tls_cert;
  std::string tls_key;
  std::string client_ca;
  std::string token;
  bool seed = true;
  int64_t seed_pods = 0;
  std::chrono::milliseconds bookmark_interval{60'000};
  int64_t watch_window = 1000;
  std::chrono::milliseconds log_interval{1'000};
  std::chrono::milliseconds node_lease_renew{10'000};
  int64_t threads = 0;
  std::string log_level = "info";
  std::vector<std::string> forbid;

  std::string validate() const {
    if (tls_cert.empty() || tls_key.empty()) return "--tls-cert and --tls-key are required";
    if (token.empty()) return "--token is required";
    if (seed_pods < 0 || seed_pods > 1'000'000) return "--seed-pods must be in 0..1000000";
    if (watch_window < 0 || watch_window > 10'000'000) {
      return "--watch-window must be in 0..10000000";
    }
    if (bookmark_interval.count() <= 0) return "--bookmark-interval must be positive";
    if (log_interval.count() <= 0) return "--log-interval must be positive";
    if (node_lease_renew.count() < 0) return "--node-lease-renew must not be negative";
    if (threads < 0 || threads > 64) return "--threads must be in 0..64";
    return {};
  }
};

}  // namespace

int main(int argc, char** argv) {
  using namespace kubehub;
  Options o;
  config::FlagSet flags("kubehub-standin",
                        "An in-memory stand-in for an edge Kubernetes API server (tests only).");
  flags.addString("listen", &o.listen, "HOST:PORT to serve HTTPS on (port 0 picks one)");
  flags.addString("tls-cert", &o.tls_cert, "serving certificate (PEM)");
  flags.addString("tls-key", &o.tls_key, "serving key (PEM)");
  flags.addString("client-ca", &o.client_ca,
                  "optional CA whose client certificates authenticate as their CN");
  flags.addString("token", &o.token,
                  "bearer token of system:serviceaccount:kubehub-system:kubehub-agent");
  flags.addBool("seed", &o.seed, "start with namespaces, nodes, pods, a deployment, widgets");
  flags.addInt("seed-pods", &o.seed_pods, "extra pods bench-NNNNN in namespace default");
  flags.addDuration("bookmark-interval", &o.bookmark_interval,
                    "how often watches that allow bookmarks get one");
  flags.addInt("watch-window", &o.watch_window,
               "recent events kept for watch resume and paging (older: 410 Gone)");
  flags.addDuration("log-interval", &o.log_interval, "time between lines of `logs -f`");
  flags.addDuration("node-lease-renew", &o.node_lease_renew,
                    "how often each Ready node's kubelet renews its Lease in kube-node-lease, "
                    "moving the resourceVersion as on a real cluster (10s as a kubelet; 0: never)");
  flags.addInt("threads", &o.threads, "I/O threads (0: one per core, at most 4)");
  flags.addString("log-level", &o.log_level, "debug, info, warn or error");
  flags.addStringList("forbid", &o.forbid,
                      "VERB:RESOURCE pairs (list:nodes) refused with 403 to the --token identity, "
                      "as RBAC refuses what its ClusterRole lacks");
  if (absl::Status s = flags.parse(argc, argv); !s.ok()) {
    std::fprintf(stderr, "kubehub-standin: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  if (flags.helpRequested()) {
    std::fputs(flags.usage().c_str(), stdout);
    return 0;
  }
  if (!flags.args().empty()) {
    std::fprintf(stderr, "kubehub-standin: unexpected argument \"%s\"\n", flags.args()[0].c_str());
    return 2;
  }
  if (std::string err = o.validate(); !err.empty()) {
    std::fprintf(stderr, "kubehub-standin: %s\n", err.c_str());
    return 2;
  }
  log::Level level;
  if (!log::parseLevel(o.log_level, &level)) {
    std::fprintf(stderr, "kubehub-standin: --log-level must be debug, info, warn or error\n");
    return 2;
  }
  log::init("standin", level);

  standin::StandinConfig cfg;
  cfg.token = o.token;
  cfg.watch_window = static_cast<size_t>(o.watch_window);
  cfg.bookmark_interval = o.bookmark_interval;
  cfg.log_interval = o.log_interval;
  cfg.seed = o.seed;
  cfg.seed_pods = o.seed_pods;
  cfg.forbid = o.forbid;
  standin::ApiServer api(cfg);
  api.seed(o.seed, o.seed_pods);

  standin::ServerOptions so;
  so.listen = o.listen;
  so.tls_cert = o.tls_cert;
  so.tls_key = o.tls_key;
  so.client_ca = o.client_ca;
  so.threads = o.threads > 0 ? static_cast<int>(o.threads) : std::clamp(net::usableCpus(), 1, 4);

  // The kubelets' lease renewals, off the I/O threads; stopped when the server returns.
  std::mutex renew_mutex;
  std::condition_variable_any renew_wake;
  std::jthread renewer;
  if (o.seed && o.node_lease_renew.count() > 0) {
    renewer = std::jthread([&](std::stop_token stop) {
      std::unique_lock lock(renew_mutex);
      for (;;) {
        renew_wake.wait_for(lock, stop, o.node_lease_renew, [] { return false; });
        if (stop.stop_requested()) return;
        standin::renewNodeLeases(api.store());
      }
    });
  }
  if (absl::Status s = standin::runServer(api, so); !s.ok()) {
    std::fprintf(stderr, "kubehub-standin: %s\n", std::string(s.message()).c_str());
    return 2;
  }
  return 0;
}
