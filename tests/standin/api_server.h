#pragma once
/// The stand-in's Kubernetes API, free of I/O: a request head and body in, a response (or a
/// plan for a streamed response: watch, logs, exec) out. Authentication (bearer token or client
/// certificate), impersonation, routing of Kubernetes paths, the verbs, content negotiation
/// (JSON, Table, PartialObjectMetadata), and the test-only /standin/ endpoints live here, so
/// the network code only moves bytes. Thread-safe: handle() may run on many threads at once.

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "tests/standin/discovery.h"
#include "tests/standin/exec_command.h"
#include "tests/standin/object_store.h"
#include "tests/standin/pod_files.h"
#include "tests/standin/pod_logs.h"
#include "tests/standin/port_forward.h"
#include "tests/standin/resource_types.h"
#include "tests/standin/watch_session.h"

namespace kubehub::standin {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct StandinConfig {
  std::string token;
  size_t watch_window = 1000;
  std::chrono::milliseconds bookmark_interval{60'000};
  std::chrono::milliseconds log_interval{1'000};
  bool seed = true;
  int64_t seed_pods = 0;
  /// "VERB:RESOURCE" pairs (e.g. "list:nodes") refused with 403 to the token's own identity
  /// (the agent's ServiceAccount), as RBAC refuses a ClusterRole without them; impersonated
  /// users are not affected.
  std::vector<std::string> forbid{};
};

struct HttpRequest {
  std::string method;
  std::string target;
  HeaderList headers;
  std::string body;
  /// Set when the client presented a certificate the configured client CA verified.
  bool client_cert = false;
  std::string client_cn;
  std::vector<std::string> client_orgs;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
  HeaderList headers;
  /// An object the server serialised itself, which it gzips past 128 KiB when the client asks
  /// (common/k8s/response_compression.h); false for logs and a proxied backend's bytes.
  bool api_object = true;
};

struct WatchPlan {
  std::shared_ptr<WatchSession> session;
  std::chrono::milliseconds timeout{0};
  bool bookmarks = false;
};

struct LogPlan {
  LogRequest request;
};

struct ExecPlan {
  ExecRequest request;
  /// The negotiated subprotocol ("v5.channel.k8s.io" or "v4.channel.k8s.io").
  std::string protocol;
  /// SPDY/3.1 streams (kubectl before 1.30, and its fallback) instead of WebSocket channels.
  bool spdy = false;
  /// Counts the session as open (SessionCounts) while any copy of the plan lives.
  std::shared_ptr<const void> session;
};

/// Open exec, attach and port-forward sessions, for /standin/stats: a session counts from the
/// plan the API makes for it until the last copy of its hold is gone, i.e. until the code
/// serving it has let go of everything (sockets, coroutines). Thread-safe.
class SessionCounts {
 public:
  enum Kind : int { kExec, kAttach, kPortForward, kKinds };
  SessionCounts();
  std::shared_ptr<const void> hold(Kind kind);
  int64_t open(Kind kind) const;

 private:
  std::shared_ptr<std::array<std::atomic<int64_t>, kKinds>> counts_;
};

/// A plain response, or the head of a streamed one plus what to stream.
struct ApiResult {
  HttpResponse response;
  std::optional<WatchPlan> watch;
  std::optional<LogPlan> logs;
  std::optional<ExecPlan> exec;
  std::optional<PortForwardPlan> port_forward;
  /// How long the server waits before it writes `response` (a hold the test asked for with
  /// POST /standin/hold); 0: at once.
  std::chrono::milliseconds hold{0};
};

/// Who a request acts as, after impersonation.
struct UserInfo {
  std::string username;
  std::string uid;
  std::vector<std::string> groups;
  std::vector<std::pair<std::string, std::vector<std::string>>> extra;
};

class ApiServer {
 public:
  explicit ApiServer(StandinConfig config);

  ApiResult handle(const HttpRequest& request);

  ObjectStore& store() { return store_; }
  SessionCounts& sessions() { return sessions_; }
  const StandinConfig& config() const { return config_; }
  /// Request heads seen (the /standin/requests answer).
  std::string recentRequestsJson() const;

  /// Creates the seed objects (namespaces, nodes, pods, ...) and `extra_pods` bench pods.
  void seed(bool objects, int64_t extra_pods);

  /// A parsed Kubernetes resource path (public for the verb helpers in the .cc).
  struct Route;

 private:
  ApiResult route(const HttpRequest& req, const UserInfo& user, const std::string& path,
                  const std::string& query);
  ApiResult resource(const HttpRequest& req, const UserInfo& user, const Route& r);
  void record(const HttpRequest& req);

  StandinConfig config_;
  ResourceRegistry registry_;
  Discovery discovery_;
  ObjectStore store_;
  PodFileSystems files_;  // what exec'd commands (kubectl cp's tar) read and write
  SessionCounts sessions_;

  mutable std::mutex log_mu_;
  std::deque<std::string> recent_;                          // encoded request heads, newest last
  std::map<std::string, std::chrono::milliseconds> holds_;  // by path; guarded by log_mu_
};

}  // namespace kubehub::standin
