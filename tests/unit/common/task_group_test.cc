#include "common/net/task_group.h"

#include <gtest/gtest.h>

#include <atomic>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <functional>
#include <future>
#include <stdexcept>
#include <thread>
#include <vector>

namespace kubehub::net {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

/// An io_context run by two threads for the test's life.
class Running {
 public:
  Running() : work_(asio::make_work_guard(io)) {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { io.run(); });
  }
  ~Running() {
    work_.reset();
    io.stop();
    for (auto& t : threads_) t.join();
  }
  asio::io_context io;

 private:
  asio::executor_work_guard<asio::io_context::executor_type> work_;
  std::vector<std::thread> threads_;
};

/// Sleeps for an hour unless cancelled; counts how it ended. Cancelled before its wait began,
/// the co_await throws operation_aborted instead of starting the wait.
asio::awaitable<void> sleeper(std::atomic<int>* started, std::atomic<int>* aborted) {
  started->fetch_add(1);
  asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::hours(1));
  boost::system::error_code ec;
  try {
    co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  } catch (const boost::system::system_error& e) {
    ec = e.code();
  }
  if (ec == asio::error::operation_aborted) aborted->fetch_add(1);
}

/// Ignores cancellation: waits on `t` until the test cancels the timer itself.
asio::awaitable<void> stubborn(asio::steady_timer* t) {
  co_await asio::this_coro::reset_cancellation_state(
      [](asio::cancellation_type) { return asio::cancellation_type::none; });
  boost::system::error_code ec;
  co_await t->async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> thrower() {
  co_await asio::post(co_await asio::this_coro::executor, asio::use_awaitable);
  throw std::runtime_error("boom");
}

bool waitFor(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

TEST(TaskGroupTest, StopCancelsEveryTaskOnItsOwnExecutorAndWaitSeesThemEnd) {
  Running r;
  TaskGroup group("test");
  std::atomic<int> started{0}, aborted{0};
  for (int i = 0; i < 50; ++i) group.spawn(asio::make_strand(r.io), sleeper(&started, &aborted));
  ASSERT_TRUE(waitFor([&] { return started.load() == 50; }));
  EXPECT_EQ(group.size(), 50u);
  EXPECT_FALSE(group.wait(20ms));  // all asleep for an hour
  group.stop();
  EXPECT_TRUE(group.stopped());
  ASSERT_TRUE(group.wait(10s));
  EXPECT_EQ(aborted.load(), 50);
  EXPECT_EQ(group.size(), 0u);
}

TEST(TaskGroupTest, ATaskSpawnedAfterStopStartsCancelled) {
  Running r;
  TaskGroup group("test");
  group.stop();
  std::atomic<int> started{0}, aborted{0};
  group.spawn(asio::make_strand(r.io), sleeper(&started, &aborted));
  ASSERT_TRUE(group.wait(10s));
  EXPECT_EQ(started.load(), 1);
  EXPECT_EQ(aborted.load(), 1);
}

TEST(TaskGroupTest, AnExceptionEndsOnlyItsTask) {
  Running r;
  TaskGroup group("test");
  std::atomic<int> started{0}, aborted{0};
  group.spawn(asio::make_strand(r.io), thrower());
  group.spawn(asio::make_strand(r.io), sleeper(&started, &aborted));
  ASSERT_TRUE(waitFor([&] { return group.size() == 1; }));
  group.stop();
  ASSERT_TRUE(group.wait(10s));
  EXPECT_EQ(aborted.load(), 1);
}

TEST(TaskGroupTest, WaitTimesOutOnATaskThatIgnoresCancellation) {
  Running r;
  TaskGroup group("test");
  auto strand = asio::make_strand(r.io);
  asio::steady_timer t(strand, std::chrono::hours(1));
  group.spawn(strand, stubborn(&t));
  ASSERT_TRUE(waitFor([&] { return group.size() == 1; }));
  group.stop();
  EXPECT_FALSE(group.wait(50ms));
  asio::post(strand, [&] { t.cancel(); });
  EXPECT_TRUE(group.wait(10s));
}

TEST(TaskGroupTest, AsyncWaitWakesWhenTheLastTaskEndsAndTimesOutOtherwise) {
  Running r;
  TaskGroup group("test");
  std::atomic<int> started{0}, aborted{0};
  for (int i = 0; i < 3; ++i) group.spawn(asio::make_strand(r.io), sleeper(&started, &aborted));
  ASSERT_TRUE(waitFor([&] { return started.load() == 3; }));

  // Times out while the tasks sleep.
  std::promise<bool> early;
  asio::co_spawn(r.io, group.asyncWait(30ms),
                 [&](std::exception_ptr, bool idle) { early.set_value(idle); });
  EXPECT_FALSE(early.get_future().get());

  // Wakes (well before its hour) once stop() ended them.
  std::promise<bool> late;
  auto begun = std::chrono::steady_clock::now();
  asio::co_spawn(r.io, group.asyncWait(std::chrono::hours(1)),
                 [&](std::exception_ptr, bool idle) { late.set_value(idle); });
  group.stop();
  auto f = late.get_future();
  ASSERT_EQ(f.wait_for(10s), std::future_status::ready);
  EXPECT_TRUE(f.get());
  EXPECT_LT(std::chrono::steady_clock::now() - begun, 10s);
  EXPECT_EQ(aborted.load(), 3);
}

TEST(TaskGroupTest, DestroyingTheGroupStopsItsTasks) {
  Running r;
  std::atomic<int> started{0}, aborted{0};
  {
    TaskGroup group("test");
    group.spawn(asio::make_strand(r.io), sleeper(&started, &aborted));
    ASSERT_TRUE(waitFor([&] { return started.load() == 1; }));
  }
  EXPECT_TRUE(waitFor([&] { return aborted.load() == 1; }));
}

}  // namespace
}  // namespace kubehub::net
