#include "common/net/async_signal.h"

#include <gtest/gtest.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_future.hpp>
#include <chrono>
#include <thread>

namespace kubehub::net {
namespace {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;
using namespace std::chrono_literals;

/// Waits on `signal` or `timeout`, whichever first: whether the signal woke it.
asio::awaitable<bool> wokeWithin(AsyncSignal* signal, std::chrono::milliseconds timeout) {
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto first = co_await (signal->wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  co_return first.index() == 0;
}

template <typename T>
T runOn(asio::io_context& io, asio::awaitable<T> task) {
  auto result = asio::co_spawn(io, std::move(task), asio::use_future);
  io.restart();
  io.run();
  return result.get();
}

TEST(AsyncSignal, ANotifyBeforeTheWaitWakesItAtOnce) {
  asio::io_context io;
  AsyncSignal signal(io.get_executor());
  signal.notify();
  EXPECT_TRUE(runOn(io, wokeWithin(&signal, 5s)));
}

TEST(AsyncSignal, NotificationsCoalesceIntoOneWake) {
  asio::io_context io;
  AsyncSignal signal(io.get_executor());
  signal.notify();
  signal.notify();
  signal.notify();
  EXPECT_TRUE(runOn(io, wokeWithin(&signal, 5s)));
  EXPECT_FALSE(runOn(io, wokeWithin(&signal, 50ms))) << "a second wake from coalesced notifies";
}

TEST(AsyncSignal, AWaitWithoutNotifyEndsWithItsTimer) {
  asio::io_context io;
  AsyncSignal signal(io.get_executor());
  EXPECT_FALSE(runOn(io, wokeWithin(&signal, 30ms)));
}

// Boost 1.81's channel refused every send after a cancelled receive until the next receive:
// this notify() was lost and the second wait slept until its timer.
TEST(AsyncSignal, ANotifyAfterACancelledWaitIsNotLost) {
  asio::io_context io;
  AsyncSignal signal(io.get_executor());
  EXPECT_FALSE(runOn(io, wokeWithin(&signal, 20ms)));
  signal.notify();
  EXPECT_TRUE(runOn(io, wokeWithin(&signal, 2s)));
}

TEST(AsyncSignal, ANotifyFromAnotherThreadWakesTheWaiter) {
  asio::io_context io;
  AsyncSignal signal(io.get_executor());
  std::thread notifier([&signal] {
    std::this_thread::sleep_for(50ms);
    signal.notify();
  });
  EXPECT_TRUE(runOn(io, wokeWithin(&signal, 10s)));
  notifier.join();
}

}  // namespace
}  // namespace kubehub::net
