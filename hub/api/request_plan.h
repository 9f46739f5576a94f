#pragma once
/// The hub's policy for one user request, as pure functions from facts to a plan that
/// api/user_server.cc carries out: who is calling and where to (planTarget); the tenant's rate
/// limit, its grants, whether the cluster's tunnel is here and what the cache can answer
/// (planRequest); an access review's body (planReview); forwarding once the cache declined
/// (planForward); and the refusals met while forwarding (stream quota, the tunnel's own).
/// No I/O, no clock, no locks: the caller gathers each fact, so tables of facts test every
/// answer. Each step is asked only once the facts it needs exist, in the order the policy
/// checks them, so a request refused early costs no later lookup (nor a rate-limit token).
/// Thread-compatible: plans are plain values.

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/k8s/cluster_path.h"
#include "common/k8s/request_info.h"
#include "hub/api/stream_quota.h"
#include "hub/auth/principal.h"
#include "hub/cache/cache_decision.h"
#include "proto/frame.h"

namespace kubehub::hub {

struct AuthSnapshot;

/// One request header, as views into the HTTP parser's buffers.
struct HeaderView {
  std::string_view name;
  std::string_view value;
};

/// What the planner reads of a request head. Views: valid while the parser that holds the head
/// lives. Nothing is copied unless the request is forwarded.
struct RequestHead {
  std::string_view method;
  std::string_view target;
  std::string_view accept;
  std::string_view content_type;
  std::string_view expect;
  /// Whether a cached answer may go gzipped (k8s::acceptsGzip).
  std::string_view accept_encoding;
  /// What the client asked for (HTTP/1.1 default, `Connection: close`, HTTP/1.0 rules).
  bool keep_alive = true;
  /// A body follows the head that nobody has read yet.
  bool body_pending = false;
  /// Every header in arrival order; read only to forward the request.
  std::span<const HeaderView> headers;
};

/// An answer the hub gives itself: a Kubernetes Status with `code`.
struct Reject {
  int code = 0;
  std::string message;
  /// Seconds for Retry-After (client-go waits that long before retrying); 0: no header.
  int retry_after = 0;
  /// The connection may carry another request after this answer (never while an unread body
  /// follows the head).
  bool keep_alive = false;
  /// Why, for the audit line; empty when the status code says enough.
  std::string audit_reason;
  /// The label this refusal counts under in kubehub_hub_denials_total, or null.
  const char* denial = nullptr;
  /// The label this refusal counts under among authentication failures, or null.
  const char* auth_failure = nullptr;
  /// An info-level log line for the operator, or null.
  const char* log = nullptr;
  /// Refused after the cluster was found served here: request metrics may name the cluster
  /// (names of clusters not served here are chosen by users, so unbounded).
  bool served_cluster = false;
};

/// An access review or a native command call: its body must be read (at most `limit` bytes)
/// and handed to planReview.
struct ReadReviewBody {
  size_t limit = 64 * 1024;
  /// A command call for a cluster whose tunnel another hub holds: read here (this hub audits
  /// it), then sent over the peer link with its body.
  bool to_peer = false;
};

/// A SelfSubjectAccessReview answered by the hub (201, `X-Kubehub-Served-From: hub`). The hub
/// answers only what its grants refuse; what they allow is forwarded so that the edge's RBAC
/// answers too.
struct AnswerReview {
  std::string body;
  bool keep_alive = true;
};

/// A read the cache answers (see api/cache_serving.h).
struct ServeFromCache {
  /// decideCachedRead's decision, trimmed to the namespaces the user is granted.
  cache::CacheDecision decision;
  /// Answer even when the cache cannot catch up in time: only the cache can give this answer.
  bool allow_stale = false;
  bool keep_alive = true;
  /// What to do when the cache cannot answer after all: this refusal, or else planForward.
  std::optional<Reject> otherwise;
};

/// A request sent on to the edge's API server over a stream.
struct Forward {
  enum class Via {
    /// The cluster's tunnel, attached to this hub.
    kTunnel,
    /// Another hub that holds the cluster's tunnel (over a peer link; the head keeps the
    /// user's target and carries the entry hub's verdict on the user instead of Impersonate-*).
    kPeerHub,
  };
  Via via = Via::kTunnel;
  std::string cluster;
  /// The OPEN's head: the upstream target and the headers, the hub's Impersonate-* first.
  proto::RequestHead head;
  /// Headers of the user's that were dropped for security (not Authorization), for the log.
  std::vector<std::string> dropped_headers;
  /// Why the cache did not answer, when it was asked (for the debug log).
  std::string cache_declined;
  /// A watch, followed log or upgrade: the client's departure is watched for while streaming
  /// and the connection closes afterwards.
  bool long_lived = false;
  /// A WebSocket/SPDY upgrade: after a 101, raw bytes flow both ways.
  bool upgrade = false;
  /// The OPEN ends the hub-to-edge direction (no body, no upgrade, nothing buffered).
  bool end_stream = true;
  /// The client's body streams to the edge as it arrives.
  bool stream_body = false;
  /// Answer `Expect: 100-continue` before streaming the body.
  bool expect_continue = false;
  /// A body the hub already read (an access review), sent after the OPEN, then END.
  std::string body;
  /// Take a share of the tunnel's streams for the user and tenant (not break-glass).
  bool stream_quota = true;
  /// HEAD: the response has no body whatever its headers say.
  bool is_head = false;
  /// A native command call: its parameters (a JSON object's text), for the audit line.
  std::string command_parameters;
  /// A listing of native commands: the names the caller's grants allow, to which the hub cuts
  /// the agent's answer (filterCommandListing); nullopt: all of them.
  std::optional<std::set<std::string>> listed_commands;
  /// The client's keep-alive (the response decides the rest).
  bool keep_alive = true;
  /// keep_alive for a refusal before the stream opens (planStreamQuotaRefusal,
  /// planOpenRefusal): false while an unread body follows.
  bool refusal_keep_alive = true;
  /// A write to a type this hub caches (set by the server that carries the plan out, not the
  /// planner): the resourceVersion of its answer is noted there (ResourceStore::noteWrite).
  std::shared_ptr<cache::ResourceStore> written_store;
};

using RequestPlan = std::variant<Reject, ReadReviewBody, AnswerReview, ServeFromCache, Forward>;

/// What the request addresses, derived once from its target.
struct RequestTarget {
  k8s::ClusterTarget route;
  k8s::RequestInfo info;
  /// A POST to selfsubjectaccessreviews (the collection only): the hub's grants answer first.
  bool access_review = false;
  /// The tenant's rate limit applies (break-glass identities have none).
  bool rate_limited = true;
  /// A GET without a body: the cache may answer it.
  bool cache_candidate = false;
  /// Under /kubehub/v1/commands: the agent's native commands, answered by the agent itself.
  bool commands = false;
  /// The command a POST to /kubehub/v1/commands/NAME calls; empty for the listing.
  std::string command;
};

/// The tenant's token bucket's verdict for this request.
struct RateVerdict {
  bool admitted = true;
  int retry_after = 1;
};

/// What the hub knows when it decides a request (besides the cache, asked last).
struct PolicyFacts {
  /// Left admitted when the limit does not apply (RequestTarget::rate_limited) or is off.
  RateVerdict rate;
  /// The metaserver's grants and cluster records; null: no metaserver, grants not enforced.
  const AuthSnapshot* auth = nullptr;
  /// The cluster's tunnel is attached to this hub.
  bool tunnel_here = false;
  /// That tunnel is a host agent's (HELLO capability host.v1): only /kubehub/ paths are served.
  bool host_here = false;
  /// Without the tunnel here: another hub holds it and takes peer links (never set for a
  /// request that came over a peer link: one hop at most).
  bool peer_route = false;
  /// Without the tunnel here: what the fleet's routing table says of the cluster.
  enum class Elsewhere {
    kUnknown,  // no routing table (no metaserver, or not loaded yet)
    kNowhere,  // no live hub holds the tunnel
    kHeld,     // another hub holds it (reachable only when peer_route)
  };
  Elsewhere elsewhere = Elsewhere::kUnknown;
};

/// decideCachedRead's decision for the request, or nullopt when its cluster is not cached.
/// Asked only for a cache candidate that passed every check before it.
using CacheLookup = absl::FunctionRef<std::optional<cache::CacheDecision>()>;

/// Whether a type is namespaced on a cluster per its discovery report (nullopt: unknown).
using NamespacedLookup =
    absl::FunctionRef<std::optional<bool>(const std::string& group, const std::string& resource)>;

/// Step 1: who and where. `who` is the authenticator's verdict (Unauthenticated: 401;
/// PermissionDenied: 403, a ban); `has_token` tells a missing token from a bad one.
std::variant<Reject, RequestTarget> planTarget(const RequestHead& head,
                                               const absl::StatusOr<Principal>& who,
                                               bool has_token);

/// Step 2: rate limit (429), grants (403), the tunnel (a peer hub that holds it, or 503), then
/// an access review's body, the cache, or forwarding.
RequestPlan planRequest(const RequestHead& head, const Principal& who, const RequestTarget& target,
                        const PolicyFacts& facts, CacheLookup cached);

/// After ReadReviewBody: the hub answers what the grants refuse (a body that does not parse is
/// refused too, never forwarded unchecked); the rest goes to the edge with the body. A command
/// call's body must be a JSON object (400 otherwise); it goes to the agent, kept for the audit.
RequestPlan planReview(const RequestHead& head, const Principal& who, const RequestTarget& target,
                       std::string body, const AuthSnapshot* auth, NamespacedLookup namespaced,
                       bool to_peer = false);

/// ReadReviewBody failed: the body was unreadable or over the limit.
Reject planReviewBodyUnreadable();

/// Forwarding: 431 when the user's headers do not fit one OPEN beside the hub's identity.
RequestPlan planForward(const RequestHead& head, const Principal& who, const RequestTarget& target);

/// The stream quota refused a Forward (see api/stream_quota.h): 429 naming the limit.
Reject planStreamQuotaRefusal(const Forward& forward, const Principal& who,
                              const StreamQuota::Refusal& why);

/// The tunnel refused to open the Forward's stream: 429 (out of streams), 431 (the head does
/// not fit the wire format) or 503.
Reject planOpenRefusal(const Forward& forward, const absl::Status& why);

/// watch=true, follow=true or a /watch/ path.
bool isLongLived(const k8s::ClusterTarget& target);

}  // namespace kubehub::hub
