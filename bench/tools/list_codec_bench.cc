// How long the hub's cache takes to encode a 10,000-pod LIST in each wire format, with pods
// shaped as a real API server serves them (managedFields, status, owner references; list items
// without kind/apiVersion), taken from the stand-in in-process. Google Benchmark; `make bench`
// runs it (step "codec"); throughput is bytes of answer per second.
//
// `JsonItemsReparsed` is what the cache did before list items were kept as byte ranges (parse
// each object, drop kind/apiVersion, print it again): the baseline the others are read against.

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <nlohmann/json.hpp>

#include "hub/cache/object_codec.h"
#include "tests/standin/api_server.h"

namespace {

using kubehub::hub::cache::EdgeList;
using kubehub::hub::cache::Encoding;
using kubehub::hub::cache::ListEncoder;
using kubehub::hub::cache::ListPage;
using kubehub::hub::cache::TypeInfo;

constexpr int kPods = 10000;
const TypeInfo kPodType{"", "v1", "pods", "Pod", true};

/// The edge's answer to the cache's LIST: a Table with every object, as the reflector asks.
const std::string& edgeTable() {
  static const std::string body = [] {
    kubehub::standin::ApiServer api(kubehub::standin::StandinConfig{.token = "t"});
    api.seed(false, kPods);
    kubehub::standin::HttpRequest r;
    r.method = "GET";
    r.target = "/api/v1/namespaces/default/pods?includeObject=Object";
    r.headers = {{"Authorization", "Bearer t"},
                 {"Accept", "application/json;as=Table;v=v1;g=meta.k8s.io"}};
    return api.handle(r).response.body;
  }();
  return body;
}

const EdgeList& cached() {
  static const EdgeList list = [] {
    auto l = kubehub::hub::cache::parseEdgeList(edgeTable(), -1, &kPodType);
    if (!l.ok() || l->objects.size() != kPods) std::abort();
    return *l;
  }();
  return list;
}

/// Encodes the whole list in 256 KiB chunks as the hub writes it to a client.
void encodeAll(benchmark::State& state, const Encoding& enc) {
  const EdgeList& l = cached();
  ListPage page{l.objects, l.rv, "", 0};
  size_t bytes = 0;
  std::string chunk;
  for (auto _ : state) {
    ListEncoder e(kPodType, page, enc, l.columns);
    chunk = e.head();
    bytes += chunk.size();
    bool more = true;
    while (more) {
      chunk.clear();
      more = e.next(&chunk, 256 * 1024);
      bytes += chunk.size();
      benchmark::DoNotOptimize(chunk.data());
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
  state.counters["objects"] = kPods;
}

// The benchmark names are the runner's figure ids (codec.<name> in the results JSON), so they
// keep their PascalCase.
// NOLINTBEGIN(readability-identifier-naming)
void JsonItemsWithoutTypeMeta(benchmark::State& state) {
  Encoding enc;
  enc.items_have_type_meta = false;
  encodeAll(state, enc);
}

void JsonItemsWithTypeMeta(benchmark::State& state) {
  Encoding enc;
  enc.items_have_type_meta = true;
  encodeAll(state, enc);
}

void TableMetadata(benchmark::State& state) {
  Encoding enc;
  enc.table = true;
  enc.now_unix = std::time(nullptr);
  encodeAll(state, enc);
}

void TableObject(benchmark::State& state) {
  Encoding enc;
  enc.table = true;
  enc.include_object = "Object";
  enc.now_unix = std::time(nullptr);
  encodeAll(state, enc);
}

void WatchInitialEvents(benchmark::State& state) {
  const EdgeList& l = cached();
  size_t bytes = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& o : l.objects) {
      kubehub::hub::cache::Event e{kubehub::hub::cache::EventType::kAdded, o, o->rv, nullptr};
      out += kubehub::hub::cache::encodeWatchEvent(kPodType, e, Encoding{}, l.columns, false);
    }
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

/// The former path: one JSON parse and print per object per request.
void JsonItemsReparsed(benchmark::State& state) {
  const EdgeList& l = cached();
  size_t bytes = 0;
  std::string out;
  for (auto _ : state) {
    out.clear();
    for (const auto& o : l.objects) {
      auto j = nlohmann::ordered_json::parse(o->json);
      j.erase("kind");
      j.erase("apiVersion");
      out += j.dump();
      out += ',';
    }
    bytes += out.size();
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(bytes));
}

/// Taking the edge's Table LIST into the cache (once per relist, not per request).
void IngestEdgeTable(benchmark::State& state) {
  const std::string& body = edgeTable();
  for (auto _ : state) {
    auto l = kubehub::hub::cache::parseEdgeList(body, -1, &kPodType);
    benchmark::DoNotOptimize(l);
  }
  state.SetBytesProcessed(static_cast<int64_t>(body.size() * state.iterations()));
}

// NOLINTEND(readability-identifier-naming)

BENCHMARK(JsonItemsWithoutTypeMeta)->Unit(benchmark::kMillisecond);
BENCHMARK(JsonItemsWithTypeMeta)->Unit(benchmark::kMillisecond);
BENCHMARK(TableMetadata)->Unit(benchmark::kMillisecond);
BENCHMARK(TableObject)->Unit(benchmark::kMillisecond);
BENCHMARK(WatchInitialEvents)->Unit(benchmark::kMillisecond);
BENCHMARK(JsonItemsReparsed)->Unit(benchmark::kMillisecond);
BENCHMARK(IngestEdgeTable)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
