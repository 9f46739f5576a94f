// Micro-benchmarks of pure functions on the hub's hot paths (Google Benchmark), each beside the
// baseline it is read against in the same run (`make bench`, step "codec", figures `micro.*`):
// - label selector matching on a cached object's labels, against parsing the selector for
//   every object (what matching without a parsed selector would cost);
// - a 32 KiB tunnel DATA frame encoded and decoded, against copying its bytes once;
// - planning a tenant's cached LIST (who, where, grants, cache), against splitting its path
//   into a request's attributes alone.

#include <benchmark/benchmark.h>

#include <memory>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/k8s/cluster_path.h"
#include "common/k8s/label_selector.h"
#include "hub/api/request_plan.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/cache/resource_store.h"
#include "proto/frame.h"

namespace {

using namespace kubehub;

constexpr std::string_view kSelector = "app=web,tier in (backend,frontend),!canary";

/// 1,024 label sets shaped like a Deployment's pods: five labels, a quarter of them matching.
const std::vector<k8s::Labels>& labelSets() {
  static const std::vector<k8s::Labels> sets = [] {
    std::vector<k8s::Labels> out;
    for (int i = 0; i < 1024; ++i) {
      out.push_back({{"app", i % 2 ? "web" : "db"},
                     {"pod-template-hash", "5d8f7c9b4-" + std::to_string(i)},
                     {"release", "stable"},
                     {"tier", i % 4 < 2 ? "frontend" : "cache"},
                     {"team", "payments"}});
    }
    return out;
  }();
  return sets;
}

// The benchmark names are the runner's figure ids (micro.<name> in the results JSON), so they
// keep their PascalCase.
// NOLINTBEGIN(readability-identifier-naming)
void LabelSelectorMatch(benchmark::State& state) {
  auto selector = *k8s::LabelSelector::parse(kSelector);
  const auto& sets = labelSets();
  size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(selector.matches(sets[i++ % sets.size()]));
  }
}
BENCHMARK(LabelSelectorMatch);

void LabelSelectorParseAndMatch(benchmark::State& state) {
  const auto& sets = labelSets();
  size_t i = 0;
  for (auto _ : state) {
    auto selector = k8s::LabelSelector::parse(kSelector);
    benchmark::DoNotOptimize(selector->matches(sets[i++ % sets.size()]));
  }
}
BENCHMARK(LabelSelectorParseAndMatch);

const std::string& dataPayload() {
  static const std::string payload(proto::kMaxDataChunk, 'x');
  return payload;
}

void FrameEncodeDecodeData(benchmark::State& state) {
  const std::string& payload = dataPayload();
  for (auto _ : state) {
    std::string frame = proto::encodeFrame(proto::FrameType::kData, 0, 7, payload);
    auto view = proto::decodeFrame(frame);
    benchmark::DoNotOptimize(view->payload.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(payload.size()));
}
BENCHMARK(FrameEncodeDecodeData);

void CopyData(benchmark::State& state) {
  const std::string& payload = dataPayload();
  for (auto _ : state) {
    std::string copy(payload);
    benchmark::DoNotOptimize(copy.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(payload.size()));
}
BENCHMARK(CopyData);

constexpr std::string_view kListTarget =
    "/clusters/edge-1/api/v1/namespaces/team-a/pods?labelSelector=app%3Dweb&limit=500";

hub::AuthSnapshot tenantGrants() {
  auth::Grant g;
  g.name = "team";
  g.tenant = "acme";
  g.cluster_names = {"edge-1"};
  g.rules = {auth::GrantRule{{""}, {"pods", "pods/log"}, {"get", "list", "watch"}, {"team-a"}},
             auth::GrantRule{{""}, {"configmaps"}, {"*"}, {"*"}}};
  hub::AuthSnapshot s;
  s.grants = std::make_shared<const std::unordered_map<std::string, std::vector<auth::Grant>>>(
      std::unordered_map<std::string, std::vector<auth::Grant>>{{"acme", {g}}});
  s.clusters = std::make_shared<const std::unordered_map<std::string, hub::ClusterRecord>>(
      std::unordered_map<std::string, hub::ClusterRecord>{{"edge-1", {}}});
  s.revoked = std::make_shared<const std::unordered_map<std::string, int64_t>>();
  s.banned_users = std::make_shared<const std::unordered_set<std::string>>();
  s.banned_tenants = std::make_shared<const std::unordered_set<std::string>>();
  s.grants_loaded = s.clusters_loaded = s.keys_loaded = true;
  return s;
}

void PlanCachedList(benchmark::State& state) {
  hub::AuthSnapshot auth = tenantGrants();
  hub::Principal who;
  who.user = "alice";
  who.tenant = "acme";
  who.groups = {"dev"};
  auto store = std::make_shared<hub::cache::ResourceStore>(
      hub::cache::TypeInfo{"", "v1", "pods", "Pod", true}, size_t{16});
  std::vector<hub::HeaderView> headers = {{"Accept", "application/json"},
                                          {"User-Agent", "kubectl/v1.33.0"}};
  for (auto _ : state) {
    hub::RequestHead head;
    head.method = "GET";
    head.target = kListTarget;
    head.accept = "application/json";
    head.headers = headers;
    auto targeted = hub::planTarget(head, who, true);
    const auto& target = std::get<hub::RequestTarget>(targeted);
    hub::PolicyFacts facts;
    facts.auth = &auth;
    facts.tunnel_here = true;
    auto plan = hub::planRequest(head, who, target, facts, [&] {
      hub::cache::CacheDecision d;
      d.store = store;
      return std::optional<hub::cache::CacheDecision>(std::move(d));
    });
    benchmark::DoNotOptimize(plan.index());
  }
}
BENCHMARK(PlanCachedList);

void SplitClusterPath(benchmark::State& state) {
  for (auto _ : state) {
    auto route = k8s::parseClusterTarget(kListTarget);
    benchmark::DoNotOptimize(route.ok());
  }
}
BENCHMARK(SplitClusterPath);
// NOLINTEND(readability-identifier-naming)

}  // namespace

BENCHMARK_MAIN();
