#include "hub/cache/probe_gate.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <vector>

namespace kubehub::hub::cache {
namespace {

namespace asio = boost::asio;
using std::chrono::milliseconds;

/// A probe that takes `delay` and answers 1, 2, 3... in the order probes start (or fails).
struct FakeEdge {
  milliseconds delay{20};
  uint64_t next = 0;
  int calls = 0;
  bool fail_first = false;

  ProbeGate::Probe probe() {
    return [this]() -> asio::awaitable<absl::StatusOr<uint64_t>> {
      uint64_t value = ++next;
      ++calls;
      asio::steady_timer t(co_await asio::this_coro::executor);
      t.expires_after(delay);
      co_await t.async_wait(asio::use_awaitable);
      if (fail_first && value == 1) co_return absl::UnavailableError("edge unreachable");
      co_return value;
    };
  }
};

asio::awaitable<void> after(milliseconds d) {
  asio::steady_timer t(co_await asio::this_coro::executor);
  t.expires_after(d);
  co_await t.async_wait(asio::use_awaitable);
}

TEST(ProbeGate, ManyConcurrentReadsShareProbes) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  std::vector<absl::StatusOr<uint64_t>> results(50, absl::UnknownError("not run"));
  for (auto& r : results) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> { r = co_await gate.run(edge.probe(), milliseconds(5000)); },
        asio::detached);
  }
  io.run();
  // The first read starts probe 1; the other 49 arrive while it is in flight and share probe 2.
  EXPECT_EQ(edge.calls, 2);
  int firsts = 0;
  for (const auto& r : results) {
    ASSERT_TRUE(r.ok()) << r.status();
    if (*r == 1u)
      ++firsts;
    else
      EXPECT_EQ(*r, 2u);
  }
  EXPECT_EQ(firsts, 1);
}

TEST(ProbeGate, AReadArrivingDuringAProbeWaitsForTheNextOne) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  edge.delay = milliseconds(50);
  absl::StatusOr<uint64_t> first = absl::UnknownError("not run");
  std::vector<absl::StatusOr<uint64_t>> late(10, absl::UnknownError("not run"));
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        first = co_await gate.run(edge.probe(), milliseconds(5000));
      },
      asio::detached);
  for (auto& r : late) {
    asio::co_spawn(
        io,
        [&]() -> asio::awaitable<void> {
          co_await after(milliseconds(10));  // probe 1 is in flight now
          r = co_await gate.run(edge.probe(), milliseconds(5000));
        },
        asio::detached);
  }
  io.run();
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(*first, 1u);
  for (const auto& r : late) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(*r, 2u) << "a probe that started before the read must not answer it";
  }
  EXPECT_EQ(edge.calls, 2);
  EXPECT_EQ(gate.probesStarted(), 2u);
}

TEST(ProbeGate, SequentialReadsEachProbeAfresh) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  std::vector<uint64_t> seen;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        for (int i = 0; i < 3; ++i) {
          auto r = co_await gate.run(edge.probe(), milliseconds(5000));
          seen.push_back(r.ok() ? *r : 0);
        }
      },
      asio::detached);
  io.run();
  EXPECT_EQ(seen, (std::vector<uint64_t>{1, 2, 3}));
}

TEST(ProbeGate, AFailedProbeIsNotReusedByReadsThatArrivedDuringIt) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  edge.fail_first = true;
  edge.delay = milliseconds(30);
  absl::StatusOr<uint64_t> first = absl::UnknownError("not run");
  absl::StatusOr<uint64_t> late = absl::UnknownError("not run");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        first = co_await gate.run(edge.probe(), milliseconds(5000));
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await after(milliseconds(5));
        late = co_await gate.run(edge.probe(), milliseconds(5000));
      },
      asio::detached);
  io.run();
  EXPECT_FALSE(first.ok());
  ASSERT_TRUE(late.ok()) << late.status();
  EXPECT_EQ(*late, 2u);
}

TEST(ProbeGate, AWaiterGivesUpAtItsDeadline) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  edge.delay = milliseconds(300);
  absl::StatusOr<uint64_t> late = absl::UnknownError("not run");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> { (void)co_await gate.run(edge.probe(), milliseconds(5000)); },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await after(milliseconds(5));
        late = co_await gate.run(edge.probe(), milliseconds(20));
      },
      asio::detached);
  io.run();
  EXPECT_EQ(late.status().code(), absl::StatusCode::kDeadlineExceeded) << late.status();
}

TEST(ProbeGate, TheReaderThatStartsAProbeGivesUpAtItsDeadlineToo) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  edge.delay = std::chrono::hours(1);  // an edge that never answers
  absl::StatusOr<uint64_t> starter = absl::UnknownError("not run");
  absl::StatusOr<uint64_t> waiter = absl::UnknownError("not run");
  absl::StatusOr<uint64_t> next = absl::UnknownError("not run");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        starter = co_await gate.run(edge.probe(), milliseconds(30));
        // The hung probe no longer counts as running: the next read starts its own.
        edge.delay = milliseconds(1);
        next = co_await gate.run(edge.probe(), milliseconds(5000));
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await after(milliseconds(5));
        waiter = co_await gate.run(edge.probe(), milliseconds(5000));
      },
      asio::detached);
  // Without the starter's bound, the hour-long probe would still hold everyone.
  io.run_for(std::chrono::seconds(10));
  EXPECT_EQ(starter.status().code(), absl::StatusCode::kDeadlineExceeded) << starter.status();
  ASSERT_TRUE(next.ok()) << next.status();
  // The waiter needed a probe started after it arrived: the second one.
  ASSERT_TRUE(waiter.ok()) << waiter.status();
  EXPECT_EQ(*waiter, *next);
  EXPECT_EQ(edge.calls, 2);
}

TEST(ProbeGate, AProbeStartedByAReaderWithLittleTimeLeftIsNotCutShortForTheOthers) {
  asio::io_context io;
  ProbeGate gate;
  FakeEdge edge;
  edge.delay = milliseconds(60);
  absl::StatusOr<uint64_t> first = absl::UnknownError("not run");
  absl::StatusOr<uint64_t> hurried = absl::UnknownError("not run");
  absl::StatusOr<uint64_t> patient = absl::UnknownError("not run");
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        first = co_await gate.run(edge.probe(), milliseconds(1000));
      },
      asio::detached);
  // Both arrive during probe 1 and share probe 2, which the hurried one (woken first) starts at
  // ~60 ms with ~45 ms of its own left; the probe takes 60.
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await after(milliseconds(5));
        hurried = co_await gate.run(edge.probe(), milliseconds(100));
      },
      asio::detached);
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        co_await after(milliseconds(10));
        patient = co_await gate.run(edge.probe(), milliseconds(1000));
      },
      asio::detached);
  io.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_EQ(*first, 1u);
  ASSERT_TRUE(patient.ok()) << patient.status();
  EXPECT_EQ(*patient, 2u);
  ASSERT_TRUE(hurried.ok()) << hurried.status();
  EXPECT_EQ(*hurried, 2u);
  EXPECT_EQ(edge.calls, 2);
}

}  // namespace
}  // namespace kubehub::hub::cache
