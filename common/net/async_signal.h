#pragma once
/// A level-triggered wake-up that any thread may raise and one coroutine at a time awaits.
/// Notifications coalesce: several notify() calls before a wait() wake it once. Thread-safe.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace kubehub::net {

class AsyncSignal {
 public:
  explicit AsyncSignal(const boost::asio::any_io_executor& ex) : channel_(ex, 1) {}

  /// Wakes the waiter, or the next wait() if nobody waits now.
  void notify() { channel_.try_send(boost::system::error_code{}); }

  /// Returns after a notify() (possibly one that happened before the call), or when the wait is
  /// cancelled (per-operation cancellation is supported, so it composes with timers).
  boost::asio::awaitable<void> wait() {
    co_await channel_.async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
  }

 private:
  boost::asio::experimental::concurrent_channel<void(boost::system::error_code)> channel_;
};

}  // namespace kubehub::net
