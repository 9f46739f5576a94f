#include "common/net/low_priority.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "common/net/server_main.h"

namespace kubehub::net {
namespace {

namespace asio = boost::asio;

TEST(LowPriority, OtherWorkRunsBetweenItsHandlers) {
  asio::io_context io;
  auto queue = std::make_shared<LowPriorityQueue>(io);
  LowPriorityExecutor low(queue);
  std::vector<std::string> order;
  for (int i = 0; i < 50; ++i) asio::post(low, [&order] { order.push_back("low"); });
  asio::post(io, [&order] { order.push_back("user"); });
  io.run();
  ASSERT_EQ(order.size(), 51u);
  // Fifty low-priority handlers were ready first; the user's ran after at most one of them.
  auto user = std::find(order.begin(), order.end(), "user") - order.begin();
  EXPECT_LE(user, 1) << "the user's handler waited behind " << user << " low-priority ones";
  EXPECT_EQ(queue->size(), 0u);
}

TEST(LowPriority, WorkReadyWhileItRunsAlsoGoesFirst) {
  asio::io_context io;
  auto queue = std::make_shared<LowPriorityQueue>(io);
  LowPriorityExecutor low(queue);
  std::vector<int> order;  // 0: low, 1: normal work posted by a low handler
  for (int i = 0; i < 10; ++i) {
    asio::post(low, [&] {
      order.push_back(0);
      asio::post(io, [&] { order.push_back(1); });
    });
  }
  io.run();
  ASSERT_EQ(order.size(), 20u);
  for (size_t i = 0; i + 1 < order.size(); i += 2) {
    EXPECT_EQ(order[i], 0);
    EXPECT_EQ(order[i + 1], 1) << "normal work posted at step " << i / 2 << " waited";
  }
}

asio::awaitable<void> sleepTwice(int* steps) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex, std::chrono::milliseconds(1));
  co_await t.async_wait(asio::use_awaitable);
  ++*steps;
  t.expires_after(std::chrono::milliseconds(1));
  co_await t.async_wait(asio::use_awaitable);
  ++*steps;
}

TEST(LowPriority, RunsCoroutinesAndTheirIo) {
  asio::io_context io;
  auto queue = std::make_shared<LowPriorityQueue>(io);
  int steps = 0;
  bool done = false;
  asio::co_spawn(LowPriorityExecutor(queue), sleepTwice(&steps),
                 [&](std::exception_ptr e) { done = !e; });
  io.run_for(std::chrono::seconds(10));
  EXPECT_TRUE(done);
  EXPECT_EQ(steps, 2);
}

TEST(LowPriority, ClearDestroysWhatIsQueued) {
  asio::io_context io;
  auto queue = std::make_shared<LowPriorityQueue>(io);
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  asio::post(LowPriorityExecutor(queue), [held = std::move(held)] {});
  EXPECT_FALSE(watch.expired());
  queue->clear();
  EXPECT_TRUE(watch.expired()) << "a queued handler outlived clear()";
}

asio::awaitable<void> holdUntilResumed(std::shared_ptr<int> held) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex, std::chrono::milliseconds(1));
  co_await t.async_wait(asio::use_awaitable);
  (void)held;
}

TEST(LowPriority, ClearDestroysQueuedCoroutinesAndWhatTheyHold) {
  // An abandoned coroutine does not die with its handler: it posts its unwinding to its
  // executor. clear() must destroy that too, or the frame outlives the contexts at exit.
  asio::io_context io;
  auto queue = std::make_shared<LowPriorityQueue>(io);
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  asio::co_spawn(LowPriorityExecutor(queue), holdUntilResumed(std::move(held)), asio::detached);
  EXPECT_FALSE(watch.expired());
  EXPECT_EQ(queue->size(), 1u) << "the coroutine's start is not queued on the executor";
  queue->clear();
  EXPECT_TRUE(watch.expired()) << "a queued coroutine's frame outlived clear()";
  asio::post(LowPriorityExecutor(queue), [] { ADD_FAILURE() << "ran after clear()"; });
  EXPECT_EQ(queue->size(), 0u);
  io.run();
}

TEST(LowPriority, PoolDestroysQueuedCoroutinesWhileEveryContextExists) {
  auto held = std::make_shared<int>(7);
  std::weak_ptr<int> watch = held;
  {
    IoPool pool(2);
    asio::co_spawn(pool.lowPriority(pool.next()), holdUntilResumed(held), asio::detached);
    asio::co_spawn(pool.lowPriority(pool.next()), holdUntilResumed(std::move(held)),
                   asio::detached);
  }  // never run: both frames are queued when the pool goes
  EXPECT_TRUE(watch.expired());
}

}  // namespace
}  // namespace kubehub::net
