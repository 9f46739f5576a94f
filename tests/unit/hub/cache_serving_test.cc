#include "hub/api/cache_serving.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "hub/cache/resource_store.h"
#include "tests/unit/tunnel/memory_transport.h"

namespace kubehub::hub {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

/// Keeps what the cache writes to the user.
class RecordingClient final : public ClientConnection {
 public:
  asio::awaitable<bool> write(std::string_view a, std::string_view b, std::string_view c) override {
    written.append(a).append(b).append(c);
    writes.push_back(a.size() + b.size() + c.size());
    co_return true;
  }
  asio::awaitable<void> waitClosed() override {
    asio::steady_timer never(co_await asio::this_coro::executor, std::chrono::hours(1));
    co_await never.async_wait(asio::use_awaitable);
  }
  void close() override {}
  std::string written;
  std::vector<size_t> writes;  // the size of each write
};

/// What the fake edge does with the read itself (not the probe) when it arrives.
enum class Edge {
  kAnswers,       // answers at once
  kResets,        // resets the stream (as an agent refusing it, or a tunnel closing)
  kSlowAndWrite,  // a write lands in the store (its watch event reaches the hub), no answer yet
};

CacheServeOptions options(milliseconds hedge_after, milliseconds consistency_timeout) {
  CacheServeOptions o;
  o.hedge_after = hedge_after;
  o.consistency_timeout = consistency_timeout;
  return o;
}

/// A hub's tunnel to a fake edge whose current resourceVersion is `edge_rv`, in front of a pods
/// store at `store_rv`.
struct Harness {
  asio::io_context io;
  std::shared_ptr<tunnel::Mux> hub;
  std::shared_ptr<tunnel::Mux> agent;
  std::shared_ptr<cache::ResourceStore> store;
  HubMetrics metrics;
  int probes = 0;
  int reads_at_edge = 0;
  int reads_reset = 0;
  /// What the cache wrote to the user, and the stream of the read sent to the edge (if any).
  RecordingClient client;
  std::shared_ptr<tunnel::Stream> sent;
  /// The stream of the read sent to the edge was reset when serveFromCache returned.
  bool sent_reset_on_return = false;
  std::shared_ptr<StreamQuota> quota = std::make_shared<StreamQuota>(StreamQuotaLimits{});
  Principal who{"carol", "t-1", {}, "", 0, false};
  size_t quota_held_while_sent = 0;
  size_t quota_held_on_return = 0;
  bool hedged_on_return = false;
  /// serve() asks for a watch.
  bool watch = false;
  /// Set: the store reaches this resourceVersion 40 ms after the probe's answer.
  uint64_t late_event_rv = 0;

  Harness(uint64_t store_rv, uint64_t edge_rv, Edge edge) {
    auto [a, b] = tunnel::MemoryTransport::pair(io.get_executor());
    tunnel::MuxOptions ho;
    ho.opens_streams = true;
    ho.name = "hub";
    tunnel::MuxOptions ao = ho;
    ao.opens_streams = false;
    ao.name = "agent";
    hub = std::make_shared<tunnel::Mux>(std::move(a), ho);
    agent = std::make_shared<tunnel::Mux>(std::move(b), ao);
    store =
        std::make_shared<cache::ResourceStore>(cache::TypeInfo{"", "v1", "pods", "Pod", true}, 100);
    store->replace({}, store_rv, "[]");
    store->setLive(true);
    agent->setOpenHandler(
        [this, edge_rv, edge](std::shared_ptr<tunnel::Stream> s, proto::RequestHead h) {
          asio::co_spawn(io, serve(std::move(s), std::move(h), edge_rv, edge), asio::detached);
        });
  }

  asio::awaitable<void> serve(std::shared_ptr<tunnel::Stream> s, proto::RequestHead h,
                              uint64_t edge_rv, Edge edge) {
    if (h.target.find("kubehub-rv-probe") != std::string::npos) {
      ++probes;
      if (late_event_rv > 0) {
        // A watch event that reaches the hub well after the probe's answer (an API server slow
        // to deliver it), as for the user's own write in the test below.
        asio::co_spawn(
            io,
            [this]() -> asio::awaitable<void> {
              asio::steady_timer t(io, milliseconds(40));
              co_await t.async_wait(asio::use_awaitable);
              store->bookmark(late_event_rv);
            },
            asio::detached);
      }
      std::string body = R"({"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":")" +
                         std::to_string(edge_rv) + R"("},"items":[]})";
      s->sendResponseHead({200, "OK", {{"Content-Length", std::to_string(body.size())}}}, false);
      if ((co_await s->write(body)).ok()) s->finish();
      co_return;
    }
    ++reads_at_edge;
    if (edge == Edge::kResets) {
      s->reset(proto::ResetCode::kUpstreamUnavailable, "no API server");
      co_return;
    }
    if (edge == Edge::kAnswers) {
      std::string body = R"({"kind":"PodList","from":"edge"})";
      s->sendResponseHead({200, "OK", {{"Content-Length", std::to_string(body.size())}}}, false);
      if ((co_await s->write(body)).ok()) s->finish();
      co_return;
    }
    store->bookmark(edge_rv);  // the event the read waited for, after it went to the edge
    co_await s->waitReset();
    ++reads_reset;
  }

  /// serveFromCache for a consistent LIST of pods; `hedge` opens the read as the user server
  /// would forward it.
  CacheServeResult serve(CacheServeOptions o, bool with_hedge, bool allow_stale = false) {
    o.metrics = &metrics;
    cache::CacheDecision d;
    d.store = store;
    d.consistency = cache::Consistency::kConsistent;
    d.watch = watch;
    d.timeout = std::chrono::seconds(1);  // a served watch ends after its initial events
    OpenForward hedge;
    if (with_hedge) {
      // As the users' server hedges: the real sendRead, with a share of the stream quota.
      hedge = [this]() -> std::shared_ptr<SentRead> {
        Forward f;
        f.cluster = "edge-1";
        f.head = {"GET", "/api/v1/pods", {}};
        auto read = sendRead(quota.get(), *hub, RequestPlan(std::move(f)), who);
        if (read != nullptr) {
          sent = read->stream;
          quota_held_while_sent = quota->held("edge-1", "user", who.user, false);
        }
        return read;
      };
    }
    CacheServeResult result;
    bool done = false;
    asio::co_spawn(io, hub->run(), asio::detached);
    asio::co_spawn(io, agent->run(), asio::detached);
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          result = co_await serveFromCache(&client, hub, d, o, true, allow_stale, hedge);
          sent_reset_on_return = sent != nullptr && sent->isReset();
          quota_held_on_return = quota->held("edge-1", "user", who.user, false);
          hedged_on_return = result.hedged != nullptr;
          result.hedged.reset();  // as the caller does once the forward is over
          // Let the edge see what became of the read before the tunnel closes.
          asio::steady_timer settle(io, milliseconds(50));
          co_await settle.async_wait(asio::use_awaitable);
          done = true;
          hub->shutdown(proto::GoAwayCode::kNormal, "test over");
        },
        asio::detached);
    io.run_for(std::chrono::seconds(20));
    EXPECT_TRUE(done) << "serveFromCache did not finish";
    return result;
  }

  double waits(std::string_view outcome) {
    std::string text = metrics.serialize();
    std::string key =
        "kubehub_hub_cache_wait_seconds_count{outcome=\"" + std::string(outcome) + "\"} ";
    auto at = text.find(key);
    if (at == std::string::npos) return -1;
    return std::stod(text.substr(at + key.size()));
  }
};

TEST(CacheServing, AReadTheCacheCannotConfirmGoesToTheEdgeAfterHedgeAfter) {
  // The store is behind the edge and nothing will move it (a quiet type while other types
  // change): the read goes to the edge after hedge_after, not after the whole timeout, and the
  // caller carries on with that stream.
  Harness h(10, 12, Edge::kAnswers);
  CacheServeOptions o = options(milliseconds(0), milliseconds(60000));
  // (Waiting for the cache's minute instead of the edge's answer fails in serve(): not done.)
  CacheServeResult r = h.serve(o, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kForward);
  EXPECT_TRUE(h.hedged_on_return);
  ASSERT_NE(h.sent, nullptr);
  EXPECT_FALSE(h.sent_reset_on_return);
  EXPECT_EQ(h.quota_held_while_sent, 1u);
  EXPECT_EQ(h.quota_held_on_return, 1u) << "the caller carries on with the stream and its share";
  EXPECT_EQ(h.probes, 1);
  EXPECT_EQ(h.reads_at_edge, 1);
  EXPECT_EQ(h.client.written, "") << "nothing may reach the user before the caller forwards";
  EXPECT_TRUE(h.store->knownBehind()) << "the next read should forward without probing";
  EXPECT_EQ(h.waits("edge_first"), 1);
  EXPECT_EQ(h.waits("caught_up"), 0);
}

TEST(CacheServing, TheCacheAnswersWhenItCatchesUpBeforeTheEdgeAndTheEdgesReadIsCancelled) {
  Harness h(10, 12, Edge::kSlowAndWrite);
  CacheServeOptions o = options(milliseconds(0), milliseconds(60000));
  CacheServeResult r = h.serve(o, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kServed);
  EXPECT_EQ(r.hedged, nullptr);
  EXPECT_EQ(h.quota_held_while_sent, 1u);
  EXPECT_EQ(h.quota_held_on_return, 0u) << "the share of the streams went with the edge's read";
  EXPECT_EQ(h.reads_at_edge, 1);
  EXPECT_TRUE(h.sent_reset_on_return)
      << "the edge's read must be cancelled once the cache answered";
  EXPECT_EQ(h.reads_reset, 1);
  EXPECT_TRUE(h.client.written.starts_with("HTTP/1.1 200 OK\r\n")) << h.client.written;
  EXPECT_NE(h.client.written.find("X-Kubehub-Served-From: cache"), std::string::npos);
  EXPECT_NE(h.client.written.find(R"("resourceVersion":"12")"), std::string::npos)
      << h.client.written;
  EXPECT_EQ(h.waits("caught_up"), 1);
  EXPECT_EQ(h.waits("edge_first"), 0);
}

TEST(CacheServing, AHedgeTheEdgeResetsLeavesTheReadToTheOrdinaryForward) {
  // No answer will come on the hedge's stream: that is not the edge answering first. The read
  // is forwarded the ordinary way (which may find the cluster's tunnel elsewhere), its share of
  // the streams given back.
  Harness h(10, 12, Edge::kResets);
  CacheServeOptions o = options(milliseconds(0), milliseconds(200));
  CacheServeResult r = h.serve(o, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kForward);
  EXPECT_FALSE(h.hedged_on_return);
  EXPECT_EQ(h.reads_at_edge, 1);
  EXPECT_EQ(h.quota_held_on_return, 0u);
  EXPECT_EQ(h.waits("edge_first"), 0);
  EXPECT_EQ(h.waits("timed_out"), 1);
}

TEST(CacheServing, WithoutAHedgeTheReadWaitsForTheCacheUntilTheTimeout) {
  // hedge_after at or over the timeout: never sent twice; forwarded by the caller afterwards.
  Harness h(10, 12, Edge::kAnswers);
  CacheServeOptions o = options(milliseconds(50), milliseconds(50));
  CacheServeResult r = h.serve(o, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kForward);
  EXPECT_EQ(r.hedged, nullptr);
  EXPECT_EQ(h.sent, nullptr);
  EXPECT_EQ(h.reads_at_edge, 0);
  EXPECT_EQ(h.waits("timed_out"), 1);
}

TEST(CacheServing, AWatchIsNeverHedged) {
  // A watch's head comes from the edge at once, data or not: racing it would forward every
  // watch a short wait lets the cache serve.
  Harness h(10, 12, Edge::kAnswers);
  h.watch = true;
  CacheServeOptions o = options(milliseconds(0), milliseconds(50));
  CacheServeResult r = h.serve(o, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kForward);
  EXPECT_EQ(h.sent, nullptr);
  EXPECT_EQ(h.reads_at_edge, 0);
  EXPECT_EQ(h.waits("timed_out"), 1);
}

TEST(CacheServing, AWatchFromNowSendsEveryObjectInPiecesNeverAsOneString) {
  // A watch with no resourceVersion starts with an ADDED event for every object of the type:
  // 48 objects of 32 KiB here. They go out in pieces of about 256 KiB, as a cached list does,
  // so a watcher never costs the hub the whole collection at once.
  Harness h(10, 10, Edge::kAnswers);
  constexpr size_t kObjects = 48;
  constexpr size_t kObjectBytes = 32 * 1024;
  std::vector<cache::ObjectPtr> objects;
  for (size_t i = 0; i < kObjects; ++i) {
    auto o = std::make_shared<cache::CachedObject>();
    o->ns = "default";
    o->name = "p-" + std::to_string(i);
    o->rv = 1 + i;
    o->json = R"({"metadata":{"name":")" + o->name + R"(","namespace":"default"},"spec":")" +
              std::string(kObjectBytes, 'x') + "\"}";
    objects.push_back(std::move(o));
  }
  h.store->replace(std::move(objects), 10, "[]");
  h.watch = true;
  CacheServeResult r = h.serve(options(milliseconds(0), milliseconds(1000)), false);
  ASSERT_EQ(r.kind, CacheServeResult::Kind::kServed);
  size_t added = 0;
  for (size_t at = h.client.written.find("\"ADDED\""); at != std::string::npos;
       at = h.client.written.find("\"ADDED\"", at + 1)) {
    ++added;
  }
  EXPECT_EQ(added, kObjects);
  size_t largest = *std::max_element(h.client.writes.begin(), h.client.writes.end());
  EXPECT_GT(h.client.written.size(), kObjects * kObjectBytes);
  EXPECT_LE(largest, 256 * 1024 + kObjectBytes + 1024) << "one write of " << largest << " bytes";
}

TEST(CacheServing, AStoreAlreadyCurrentAnswersAtOnce) {
  Harness h(12, 12, Edge::kAnswers);
  CacheServeResult r = h.serve(options(milliseconds(0), milliseconds(100)), true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kServed);
  EXPECT_EQ(h.reads_at_edge, 0);
  EXPECT_EQ(h.waits("current"), 1);
}

TEST(CacheServing, AnAnswerOnlyTheCacheGivesWaitsAsLongAsAHedgeThenWarnsOnlyWithoutAWatch) {
  // An all-namespaces list trimmed to a user's namespaces cannot go to the edge. Its store,
  // behind the edge's resourceVersion because other types moved it, is answered after the
  // short wait (not the minute), and with no Warning while its watch is live.
  for (bool live : {true, false}) {
    Harness h(10, 12, Edge::kAnswers);
    h.store->setLive(live);
    CacheServeOptions o = options(milliseconds(2), milliseconds(60000));
    CacheServeResult r = h.serve(o, false, true);
    EXPECT_EQ(r.kind, CacheServeResult::Kind::kServed) << live;
    EXPECT_EQ(h.reads_at_edge, 0);
    EXPECT_TRUE(h.client.written.starts_with("HTTP/1.1 200 OK\r\n")) << h.client.written;
    EXPECT_EQ(h.client.written.find("Warning: 299") != std::string::npos, !live)
        << h.client.written;
    EXPECT_EQ(h.waits("timed_out"), 1);
  }
}

TEST(CacheServing, AnAnswerOnlyTheCacheGivesWaitsForTheUsersOwnWriteThroughTheHub) {
  // A write through the hub was acknowledged at 11; its watch event comes 40 ms after the
  // probe (the edge meanwhile at 12 because of other types). The answer waits for it, past the
  // 2 ms it gives events in flight otherwise, and shows it, without a Warning.
  Harness h(10, 12, Edge::kAnswers);
  h.store->noteWrite(11);
  h.late_event_rv = 11;
  CacheServeOptions o = options(milliseconds(2), milliseconds(60000));
  CacheServeResult r = h.serve(o, false, true);
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kServed);
  EXPECT_NE(h.client.written.find(R"("resourceVersion":"11")"), std::string::npos)
      << h.client.written;
  EXPECT_EQ(h.client.written.find("Warning: 299"), std::string::npos) << h.client.written;
}

TEST(CacheServing, AnAnswerOnlyTheCacheGivesAtANamedVersionItHasNotReachedWarns) {
  Harness h(10, 12, Edge::kAnswers);
  CacheServeOptions o = options(milliseconds(2), milliseconds(50));
  RecordingClient client;
  cache::CacheDecision d;
  d.store = h.store;
  d.consistency = cache::Consistency::kAtLeast;
  d.min_rv = 11;
  CacheServeResult r;
  asio::co_spawn(
      h.io,
      [&]() -> asio::awaitable<void> {
        r = co_await serveFromCache(&client, nullptr, d, o, true, true);
      },
      asio::detached);
  h.io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(r.kind, CacheServeResult::Kind::kServed);
  EXPECT_NE(client.written.find("Warning: 299"), std::string::npos) << client.written;
}

}  // namespace
}  // namespace kubehub::hub
