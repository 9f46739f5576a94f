// Fuzzes the hub's request planner (hub/api/request_plan.h) with any request head and any
// facts: no crash, no exception, and the security rules hold whatever the input:
// - a refusal is a 4xx/5xx with a message; an unread body never leaves the connection open;
// - a forwarded head never carries the user's Authorization, Impersonate-* or hub-to-hub
//   headers (Kubehub-Peer-*): over a tunnel its only identity is the hub's Impersonate-* for the
//   principal, over a peer link the hub's peer identity header for the principal and no
//   Impersonate-*;
// - a tenant's request reaches (cache or edge) only the cluster its grants name (an access
//   review goes unread to the hub that holds the tunnel, which answers it from the grants),
//   and a cluster not served here only through a peer hub that holds it;
// - a host agent's tunnel serves only native commands; the cache answers only GETs.
//
// Input: byte 0 chooses the facts (principal, tunnel, host, peer route, rate verdict, cache
// answer, metaserver), then lines: method, target, headers as "Name: value", an empty line,
// then the body an access review or command call reads.
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/net/http_headers.h"
#include "hub/api/request_plan.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/auth/peer_identity.h"
#include "hub/cache/resource_store.h"

namespace {

using namespace kubehub;
using namespace kubehub::hub;

constexpr std::string_view kGrantedCluster = "edge-1";

hub::AuthSnapshot grants() {
  auth::Grant g;
  g.name = "team";
  g.tenant = "acme";
  g.cluster_names = {std::string(kGrantedCluster)};
  g.rules = {auth::GrantRule{
                 {""}, {"pods", "pods/log", "pods/exec"}, {"get", "list", "watch"}, {"team-a"}},
             auth::GrantRule{{""}, {"configmaps"}, {"*"}, {"*"}}};
  g.commands = {"disk-usage"};
  hub::AuthSnapshot s;
  s.grants = std::make_shared<const std::unordered_map<std::string, std::vector<auth::Grant>>>(
      std::unordered_map<std::string, std::vector<auth::Grant>>{{"acme", {g}}});
  s.clusters = std::make_shared<const std::unordered_map<std::string, ClusterRecord>>(
      std::unordered_map<std::string, ClusterRecord>{{std::string(kGrantedCluster), {}},
                                                     {"edge-2", {}}});
  s.revoked = std::make_shared<const std::unordered_map<std::string, int64_t>>();
  s.banned_users = std::make_shared<const std::unordered_set<std::string>>();
  s.banned_tenants = std::make_shared<const std::unordered_set<std::string>>();
  s.grants_loaded = s.clusters_loaded = s.keys_loaded = true;
  return s;
}

std::string_view nextLine(std::string_view* in) {
  size_t nl = in->find('\n');
  std::string_view line = in->substr(0, nl);
  in->remove_prefix(nl == std::string_view::npos ? in->size() : nl + 1);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line;
}

bool startsWithI(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && net::iequals(s.substr(0, prefix.size()), prefix);
}

void checkReject(const Reject& r, bool body_pending) {
  if (r.code < 400 || r.code > 599 || r.message.empty()) std::abort();
  if (body_pending && r.keep_alive) std::abort();
}

void checkForward(const Forward& f, const Principal& who, const RequestTarget& target,
                  const PolicyFacts& facts) {
  if (f.cluster != target.route.cluster) std::abort();
  if (facts.host_here && f.via == Forward::Via::kTunnel && !target.commands) std::abort();
  if (f.via == Forward::Via::kPeerHub && (facts.tunnel_here || !facts.peer_route)) std::abort();
  if (f.via == Forward::Via::kTunnel && !facts.tunnel_here) std::abort();
  int users = 0, peer_identities = 0;
  for (const auto& [name, value] : f.head.headers) {
    if (net::iequals(name, "Authorization")) std::abort();
    if (net::iequals(name, "Impersonate-User")) {
      if (f.via == Forward::Via::kPeerHub || value != who.user) std::abort();
      ++users;
    } else if (net::iequals(name, "Impersonate-Group")) {
      if (f.via == Forward::Via::kPeerHub) std::abort();
      bool ours = value == "system:authenticated" || value == "kubehub:tenant:" + who.tenant;
      for (const auto& g : who.groups) ours = ours || value == "kubehub:group:" + g;
      if (!ours) std::abort();
    } else if (startsWithI(name, "Impersonate-")) {
      std::abort();  // Impersonate-Uid, Impersonate-Extra-*: the hub sends none
    } else if (net::iequals(name, kPeerIdentityHeader)) {
      if (f.via != Forward::Via::kPeerHub || value != encodePeerIdentity(who)) std::abort();
      ++peer_identities;
    } else if (startsWithI(name, "Kubehub-Peer-")) {
      std::abort();
    }
  }
  if (f.via == Forward::Via::kTunnel && !who.break_glass && users != 1) std::abort();
  if (f.via == Forward::Via::kPeerHub && peer_identities != 1) std::abort();
}

/// A tenant's request that reached a cluster: only the one its grants name. An access review
/// whose body is unread goes to the hub that holds the tunnel as it came, which answers it
/// from the same grants.
void checkReach(const Principal& who, const RequestTarget& target, const PolicyFacts& facts,
                const Forward* f) {
  if (f && f->via == Forward::Via::kPeerHub && target.access_review && !target.commands) return;
  if (facts.auth && !who.break_glass && target.route.cluster != kGrantedCluster) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint8_t bits = data[0];
  const uint8_t more = data[1];
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);

  std::string method(nextLine(&in));
  std::string target_text(nextLine(&in));
  std::vector<std::pair<std::string, std::string>> header_text;
  while (!in.empty() && header_text.size() < 64) {
    std::string_view line = nextLine(&in);
    if (line.empty()) break;
    size_t colon = line.find(':');
    std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    header_text.emplace_back(std::string(line.substr(0, colon)), std::string(value));
  }
  std::string body(in);

  std::vector<HeaderView> views;
  RequestHead head;
  for (const auto& [k, v] : header_text) {
    views.push_back({k, v});
    if (net::iequals(k, "Accept")) head.accept = v;
    if (net::iequals(k, "Content-Type")) head.content_type = v;
    if (net::iequals(k, "Expect")) head.expect = v;
  }
  head.method = method;
  head.target = target_text;
  head.keep_alive = (more & 1) != 0;
  head.body_pending = (more & 2) != 0;
  head.headers = views;

  // bits 0-1: no token, a bad one, a tenant's user, a break-glass identity.
  absl::StatusOr<Principal> who = absl::UnauthenticatedError("Unauthorized");
  if ((bits & 3) >= 2) {
    Principal p;
    p.user = "alice";
    if ((bits & 3) == 3) {
      p.break_glass = true;
      p.groups = {"system:masters"};
    } else {
      p.tenant = "acme";
      p.groups = {"dev"};
    }
    who = p;
  }
  auto targeted = planTarget(head, who, (bits & 3) != 0);
  if (const auto* r = std::get_if<Reject>(&targeted)) {
    checkReject(*r, head.body_pending);
    return 0;
  }
  if (!who.ok()) std::abort();  // only an authenticated caller gets past planTarget
  const RequestTarget& target = std::get<RequestTarget>(targeted);

  hub::AuthSnapshot snapshot = grants();
  PolicyFacts facts;
  facts.auth = (bits & 4) ? &snapshot : nullptr;
  facts.tunnel_here = (bits & 8) != 0;
  facts.host_here = facts.tunnel_here && (bits & 16);
  facts.peer_route = !facts.tunnel_here && (bits & 16);
  facts.elsewhere = static_cast<PolicyFacts::Elsewhere>((more >> 2) % 3);
  if (facts.peer_route) facts.elsewhere = PolicyFacts::Elsewhere::kHeld;
  if (target.rate_limited && (bits & 32)) facts.rate = RateVerdict{false, 1 + (more >> 4)};

  // bits 6-7: the cluster is not cached, the cache declines, serves, or refuses the query.
  const int cache_mode = bits >> 6;
  int cache_asked = 0;
  auto cached = [&]() -> std::optional<cache::CacheDecision> {
    ++cache_asked;
    if (cache_mode == 0) return std::nullopt;
    cache::CacheDecision d;
    if (cache_mode == 1) {
      d.why_not = "declined by the fuzzer";
      return d;
    }
    d.store = std::make_shared<cache::ResourceStore>(cache::TypeInfo{"", "v1", "pods", "Pod", true},
                                                     size_t{16});
    if (cache_mode == 3) {
      d.reject_code = 400;
      d.reject_body = "{}";
    }
    return d;
  };

  // `body_unread`: planReview comes after the body was read, so its refusals may keep the
  // connection.
  auto check = [&](const RequestPlan& plan, bool body_unread) {
    if (const auto* r = std::get_if<Reject>(&plan)) {
      checkReject(*r, body_unread);
    } else if (const auto* f = std::get_if<Forward>(&plan)) {
      checkReach(*who, target, facts, f);
      checkForward(*f, *who, target, facts);
    } else if (std::get_if<ServeFromCache>(&plan)) {
      checkReach(*who, target, facts, nullptr);
      if (method != "GET" || !facts.tunnel_here || facts.host_here) std::abort();
    }
  };

  RequestPlan plan = planRequest(head, *who, target, facts, cached);
  check(plan, head.body_pending);
  if (cache_asked > 1) std::abort();
  if (const auto* read = std::get_if<ReadReviewBody>(&plan)) {
    auto namespaced = [&](const std::string&, const std::string& resource) -> std::optional<bool> {
      if (resource == "nodes") return false;
      if (resource == "pods" || resource == "configmaps") return true;
      return std::nullopt;
    };
    if (read->to_peer && !facts.peer_route) std::abort();
    check(planReview(head, *who, target, body, facts.auth, namespaced, read->to_peer), false);
  } else if (const auto* s = std::get_if<ServeFromCache>(&plan); s && !s->otherwise) {
    check(planForward(head, *who, target), head.body_pending);
  }
  return 0;
}
