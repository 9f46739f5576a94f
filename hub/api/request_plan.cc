#include "hub/api/request_plan.h"

#include <iterator>
#include <nlohmann/json.hpp>
#include <utility>

#include "common/k8s/query.h"
#include "common/k8s/response_compression.h"
#include "common/k8s/validation.h"
#include "common/net/http_headers.h"
#include "hub/auth/access_review.h"
#include "hub/auth/authorizer.h"
#include "hub/auth/peer_identity.h"
#include "hub/cache/resource_store.h"
#include "proto/cluster_status.h"

namespace kubehub::hub {

namespace {

/// A refusal before the request's body is read: the connection cannot carry another request
/// while an unread body follows.
bool keepAliveBeforeBody(const RequestHead& head) { return head.keep_alive && !head.body_pending; }

Reject reject(int code, std::string message, bool keep_alive) {
  Reject r;
  r.code = code;
  r.message = std::move(message);
  r.keep_alive = keep_alive;
  return r;
}

/// Headers naming the user to the edge: the edge's own RBAC applies to them as a second wall.
/// Groups are prefixed so that no name chosen in the metaserver can become an edge group such
/// as system:masters.
void addImpersonation(const Principal& who, net::HeaderList* headers) {
  headers->emplace_back("Impersonate-User", who.user);
  if (!who.tenant.empty())
    headers->emplace_back("Impersonate-Group", "kubehub:tenant:" + who.tenant);
  for (const auto& g : who.groups) headers->emplace_back("Impersonate-Group", "kubehub:group:" + g);
  headers->emplace_back("Impersonate-Group", "system:authenticated");
}

/// Only the cache can trim an all-namespaces answer to the namespaces granted.
Reject namespacesRefusal(const Principal& who, const RequestTarget& t,
                         const std::vector<std::string>& namespaces, bool keep_alive) {
  std::string list;
  for (const auto& ns : namespaces) list += (list.empty() ? "" : ", ") + ns;
  if (list.empty()) list = "none for this cluster-scoped resource";
  Reject r =
      reject(403,
             t.info.resource + " is forbidden: User \"" + who.user + "\" cannot " + t.info.verb +
                 " " + t.info.resource + " across all namespaces of cluster \"" + t.route.cluster +
                 "\"; granted namespaces: " + list + " (use -n NAMESPACE)",
             keep_alive);
  r.served_cluster = true;
  return r;
}

/// planForward, for a request whose body is either still unread or already in `body`. Through
/// the tunnel, the head names the user by impersonation and addresses the edge's API server;
/// to a peer hub, it keeps the user's target and names the user in one header the owner hub
/// plans with (hub/api/peer_server.cc).
RequestPlan forwardOrRefuse(const RequestHead& head, const Principal& who,
                            const RequestTarget& target, std::string body, bool body_read,
                            Forward::Via via = Forward::Via::kTunnel) {
  bool body_pending = head.body_pending && !body_read;
  bool keep = head.keep_alive && !body_pending;
  net::HeaderList in;
  in.reserve(16);
  for (const auto& h : head.headers) in.emplace_back(std::string(h.name), std::string(h.value));
  std::vector<std::string> removed;
  net::HeaderList users_headers = net::forwardableRequestHeaders(in, &removed);
  Forward f;
  for (auto& name : removed) {
    if (!net::iequals(name, "Authorization")) f.dropped_headers.push_back(std::move(name));
  }
  // The identity goes first, so nothing the user sends can push it out of the head, and a head
  // that does not fit is refused whole (never truncated: the edge would run it as the agent).
  net::HeaderList forwarded;
  if (via == Forward::Via::kPeerHub) {
    forwarded.emplace_back(std::string(kPeerIdentityHeader), encodePeerIdentity(who));
  } else {
    addImpersonation(who, &forwarded);
  }
  if (forwarded.size() + users_headers.size() > proto::kMaxHeaders) {
    Reject r = reject(431,
                      "the request has " + std::to_string(users_headers.size()) +
                          " headers; kubehub forwards at most " +
                          std::to_string(proto::kMaxHeaders - forwarded.size()) + " (it adds " +
                          std::to_string(forwarded.size()) + " of its own to name the user)",
                      keep);
    r.audit_reason = "too many request headers";
    r.served_cluster = true;
    return r;
  }
  forwarded.insert(forwarded.end(), std::make_move_iterator(users_headers.begin()),
                   std::make_move_iterator(users_headers.end()));
  if (!body.empty()) {
    for (auto& [k, v] : forwarded) {
      if (net::iequals(k, "Content-Length")) v = std::to_string(body.size());
    }
  }
  f.via = via;
  f.cluster = target.route.cluster;
  f.head = proto::RequestHead{
      std::string(head.method),
      via == Forward::Via::kPeerHub ? std::string(head.target) : target.route.upstreamTarget(),
      std::move(forwarded)};
  // An upgrade has no body but its client keeps sending (raw bytes after the 101), so its
  // stream stays open in the hub-to-agent direction too.
  f.upgrade = net::isUpgrade(in);
  f.long_lived = isLongLived(target.route) || f.upgrade;
  f.stream_body = body_pending;
  f.end_stream = !body_pending && !f.upgrade && body.empty();
  f.body = std::move(body);
  // Answered by the hub rather than the edge: the body streams through the tunnel as it comes.
  f.expect_continue = body_pending && net::iequals(head.expect, "100-continue");
  f.stream_quota = !who.break_glass;
  f.is_head = head.method == "HEAD";
  f.keep_alive = head.keep_alive;
  f.refusal_keep_alive = keep;
  return f;
}

}  // namespace

bool isLongLived(const k8s::ClusterTarget& t) {
  return k8s::queryFlag(t.query, "watch") || k8s::queryFlag(t.query, "follow") ||
         t.path.find("/watch/") != std::string::npos;
}

std::variant<Reject, RequestTarget> planTarget(const RequestHead& head,
                                               const absl::StatusOr<Principal>& who,
                                               bool has_token) {
  bool keep = keepAliveBeforeBody(head);
  // Who.
  if (!who.ok()) {
    bool banned = absl::IsPermissionDenied(who.status());
    Reject r = reject(banned ? 403 : 401,
                      banned ? std::string(who.status().message()) : "Unauthorized", keep);
    r.audit_reason = std::string(who.status().message());
    r.auth_failure = banned ? "banned" : has_token ? "invalid" : "missing";
    r.log = banned ? "banned caller refused" : "unauthenticated request";
    return r;
  }
  // Where.
  auto route = k8s::parseClusterTarget(head.target);
  if (!route.ok()) {
    Reject r = reject(absl::IsNotFound(route.status()) ? 404 : 400,
                      std::string(route.status().message()), keep);
    r.audit_reason = r.message;
    return r;
  }
  RequestTarget t;
  if (route->path == "/kubehub" || route->path.starts_with("/kubehub/")) {
    // The agent's own endpoint: native commands. Nothing else under /kubehub/ exists, and
    // nothing under it is ever an API server's path.
    static constexpr std::string_view kCommands = "/kubehub/v1/commands";
    std::string_view path = route->path;
    if (path.ends_with("/") && path.size() > kCommands.size()) path.remove_suffix(1);
    std::string name;
    if (path.starts_with(kCommands) && path.size() > kCommands.size() + 1 &&
        path[kCommands.size()] == '/') {
      name = std::string(path.substr(kCommands.size() + 1));
    }
    bool listing = path == kCommands;
    if (!listing && (name.empty() || !k8s::isDnsLabel(name))) {
      Reject r = reject(404,
                        "the hub serves no " + route->path +
                            " (kubehub/v1/commands lists a cluster's commands, "
                            "kubehub/v1/commands/NAME runs one)",
                        keep);
      r.audit_reason = r.message;
      return r;
    }
    if ((listing && head.method != "GET") || (!listing && head.method != "POST")) {
      Reject r = reject(405,
                        listing ? "list a cluster's commands with GET"
                                : "run a command with POST and its parameters as a JSON object",
                        keep);
      r.audit_reason = r.message;
      return r;
    }
    t.commands = true;
    t.command = name;
    t.info.is_resource_request = true;
    t.info.verb = listing ? "list" : "create";
    t.info.api_group = "kubehub.io";
    t.info.resource = "commands";
    t.info.name = name;
    t.route = std::move(*route);
    t.rate_limited = !who->break_glass;
    return t;
  }
  t.info = k8s::parseRequestInfo(head.method, route->path, route->query);
  t.route = std::move(*route);
  // kubectl >= 1.30 opens exec, attach and port-forward with a WebSocket GET where it used to
  // POST an SPDY upgrade: the same act, so the grants see "create" either way (what RBAC asks
  // since Kubernetes 1.35). Otherwise a read-only grant ("get" on "*") would open a shell.
  if (t.info.is_resource_request && t.info.verb == "get" && t.info.api_group.empty() &&
      t.info.resource == "pods" &&
      (t.info.subresource == "exec" || t.info.subresource == "attach" ||
       t.info.subresource == "portforward")) {
    t.info.verb = "create";
  }
  // Only the collection itself is a review; any other path under it goes through the grants.
  t.access_review = t.info.is_resource_request && t.info.api_group == "authorization.k8s.io" &&
                    t.info.resource == "selfsubjectaccessreviews" && t.info.verb == "create" &&
                    t.info.name.empty() && t.info.subresource.empty();
  t.rate_limited = !who->break_glass;
  t.cache_candidate = head.method == "GET" && !head.body_pending;
  return t;
}

RequestPlan planRequest(const RequestHead& head, const Principal& who, const RequestTarget& target,
                        const PolicyFacts& facts, CacheLookup cached) {
  bool keep = keepAliveBeforeBody(head);
  const k8s::RequestInfo& info = target.info;
  const std::string& cluster = target.route.cluster;

  // How often.
  if (!facts.rate.admitted) {
    Reject r = reject(429,
                      "too many requests from tenant \"" + who.tenant + "\"; retry in " +
                          std::to_string(facts.rate.retry_after) + "s",
                      keep);
    r.retry_after = facts.rate.retry_after;
    r.audit_reason = "tenant rate limit";
    r.denial = "rate_limit";
    return r;
  }

  // May they. An access review is answered from the grants once its body is read.
  std::optional<std::vector<std::string>> namespaces;
  if (facts.auth && !who.break_glass && (target.commands || !target.access_review)) {
    AccessDecision d;
    if (target.commands) {
      d = decideCommandAccess(who, *facts.auth, cluster, target.command);
    } else {
      AccessQuery q{cluster,          info.verb,       info.api_group, info.resource,
                    info.subresource, info.namespace_, info.name,      info.is_resource_request,
                    target.route.path};
      d = decideAccess(who, *facts.auth, q);
    }
    if (!d.allowed) {
      Reject r = reject(403, d.message, keep);
      r.audit_reason = std::move(d.message);
      r.denial = "grant";
      r.log = "request refused by grants";
      return r;
    }
    namespaces = std::move(d.namespaces);
  }

  if (!facts.tunnel_here) {
    // Another hub holds the tunnel: everything goes there as it came (reviews, reads of its
    // cache, writes, streams); the owner plans it again with this verdict on who asks.
    if (facts.peer_route && !target.command.empty()) {
      ReadReviewBody read;
      read.to_peer = true;
      return read;
    }
    if (facts.peer_route) {
      RequestPlan plan = forwardOrRefuse(head, who, target, {}, false, Forward::Via::kPeerHub);
      // The owner splices its agent's answer through: this hub cuts a listing to the grants.
      if (auto* f = std::get_if<Forward>(&plan); f && facts.auth && target.commands)
        f->listed_commands = allowedCommands(who, *facts.auth, cluster);
      return plan;
    }
    switch (facts.elsewhere) {
      case PolicyFacts::Elsewhere::kNowhere:
        return reject(503,
                      "cluster \"" + cluster +
                          "\" is not connected to any hub (its agent is offline or unknown)",
                      keep);
      case PolicyFacts::Elsewhere::kHeld:
        return reject(503,
                      "cluster \"" + cluster +
                          "\" is connected to another hub, which this hub cannot reach (it takes "
                          "no peer links: --peer-listen)",
                      keep);
      case PolicyFacts::Elsewhere::kUnknown:
        break;
    }
    return reject(503,
                  "cluster \"" + cluster +
                      "\" is not connected to this hub (its agent is offline or unknown)",
                  keep);
  }

  // A bare host has no API server: said here rather than after a trip through the tunnel (its
  // agent answers the same).
  if (facts.host_here && !target.commands) {
    Reject r = reject(404, proto::hostRefusal(cluster), keep);
    r.audit_reason = r.message;
    r.served_cluster = true;
    return r;
  }

  // kubectl auth can-i: the hub's grants answer first; what they allow, the edge's RBAC
  // answers for. A review without a body is still a review: it is parsed (and refused) by the
  // hub, never forwarded unchecked.
  if (target.access_review) return ReadReviewBody{};
  // A command call's parameters are read first: the audit line names them.
  if (!target.command.empty()) return ReadReviewBody{};
  if (target.commands) {
    RequestPlan plan = planForward(head, who, target);
    // A listing shows only what the caller may run (the agent lists everything it offers).
    if (auto* f = std::get_if<Forward>(&plan); f && facts.auth && target.command.empty())
      f->listed_commands = allowedCommands(who, *facts.auth, cluster);
    return plan;
  }

  std::string cache_declined;
  if (target.cache_candidate) {
    if (std::optional<cache::CacheDecision> decision = cached()) {
      if (decision->store && namespaces && !decision->store->info().namespaced) {
        // Namespace grants never reach cluster-scoped types (as with RoleBindings).
        decision->store = nullptr;
        decision->why_not = "cluster-scoped type, namespace grants only";
        namespaces->clear();
      }
      if (decision->store) {
        ServeFromCache serve;
        serve.keep_alive = head.keep_alive;
        if (namespaces) {
          decision->filter.allowed_namespaces = *namespaces;
          serve.allow_stale = true;
          serve.otherwise = namespacesRefusal(who, target, *namespaces, keep);
        }
        decision->accepts_gzip = k8s::acceptsGzip(head.accept_encoding);
        serve.decision = std::move(*decision);
        return serve;
      }
      cache_declined = std::move(decision->why_not);
    }
  }
  if (namespaces) return namespacesRefusal(who, target, *namespaces, keep);
  RequestPlan plan = planForward(head, who, target);
  if (auto* f = std::get_if<Forward>(&plan)) f->cache_declined = std::move(cache_declined);
  return plan;
}

RequestPlan planReview(const RequestHead& head, const Principal& who, const RequestTarget& target,
                       std::string body, const AuthSnapshot* auth, NamespacedLookup namespaced,
                       bool to_peer) {
  if (!target.command.empty()) {
    bool blank = body.find_first_not_of(" \t\r\n") == std::string::npos;
    auto parsed = nlohmann::json::parse(body, nullptr, false);
    if (!blank && (parsed.is_discarded() || !parsed.is_object())) {
      Reject r = reject(400,
                        "command \"" + target.command +
                            "\": the parameters must be a JSON object, e.g. {\"path\":\"/var\"}",
                        head.keep_alive);
      r.audit_reason = "parameters not a JSON object";
      r.served_cluster = true;
      return r;
    }
    std::string parameters = blank ? "{}" : parsed.dump();
    RequestPlan plan = forwardOrRefuse(head, who, target, std::move(body), true,
                                       to_peer ? Forward::Via::kPeerHub : Forward::Via::kTunnel);
    if (auto* f = std::get_if<Forward>(&plan)) {
      // Output streams for as long as the command runs; a client that leaves stops it.
      f->long_lived = true;
      f->command_parameters = std::move(parameters);
    }
    return plan;
  }
  if (auth && !who.break_glass) {
    auto review = parseAccessReview(body, head.content_type);
    AccessQuery q;
    q.cluster = target.route.cluster;
    if (review.ok()) {
      q.is_resource_request = review->is_resource;
      q.verb = review->verb;
      q.api_group = review->group;
      q.resource = review->resource;
      q.subresource = review->subresource;
      q.namespace_name = review->namespace_name;
      q.name = review->name;
      q.path = review->path;
      // kubectl may name its current namespace even for a cluster-scoped type: a namespace
      // grant must not answer for, say, nodes.
      if (q.is_resource_request && !q.namespace_name.empty() &&
          namespaced(q.api_group, q.resource) == false) {
        q.namespace_name.clear();
      }
    }
    AccessDecision d = decideAccess(who, *auth, q);
    if (!review.ok() || !d.allowed || d.namespaces.has_value()) {
      std::string reason = !review.ok() ? std::string(review.status().message())
                           : d.allowed  ? std::string("allowed only in some namespaces")
                                        : d.message;
      AnswerReview answer;
      answer.body = review.ok() ? deniedAccessReview(*review, reason)
                                : deniedAccessReview(ReviewAttributes{}, reason);
      answer.keep_alive = head.keep_alive;
      return answer;
    }
  }
  return forwardOrRefuse(head, who, target, std::move(body), true);
}

Reject planReviewBodyUnreadable() {
  Reject r = reject(400, "the SelfSubjectAccessReview body is unreadable or too large", false);
  r.served_cluster = true;
  return r;
}

RequestPlan planForward(const RequestHead& head, const Principal& who,
                        const RequestTarget& target) {
  return forwardOrRefuse(head, who, target, std::string(), false);
}

Reject planStreamQuotaRefusal(const Forward& f, const Principal& who,
                              const StreamQuota::Refusal& why) {
  std::string whose =
      why.scope == "user" ? "user \"" + who.user + "\"" : "tenant \"" + who.tenant + "\"";
  Reject r =
      reject(429,
             std::string("too many concurrent ") +
                 (f.long_lived ? "long-lived streams (watches, followed logs, exec, "
                                 "attach, port-forward)"
                               : "requests") +
                 " of " + whose + " on cluster \"" + f.cluster + "\": at most " +
                 std::to_string(why.limit) + " (" + why.flag + "); close some or retry later",
             f.refusal_keep_alive);
  r.retry_after = 1;
  r.audit_reason = "stream quota " + why.flag;
  r.denial = "stream_quota";
  r.served_cluster = true;
  return r;
}

Reject planOpenRefusal(const Forward& f, const absl::Status& why) {
  int code = absl::IsResourceExhausted(why) ? 429 : absl::IsInvalidArgument(why) ? 431 : 503;
  Reject r = reject(code, "cluster \"" + f.cluster + "\": " + std::string(why.message()),
                    f.refusal_keep_alive);
  r.served_cluster = true;
  return r;
}

}  // namespace kubehub::hub
