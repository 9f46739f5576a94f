#pragma once
/// A level-triggered wake-up that any thread may raise and one coroutine at a time awaits.
/// Notifications coalesce: several notify() calls before a wait() wake it once. Thread-safe.
///
/// Boost 1.81's channel, under it, refuses sends after a cancelled receive until the next
/// receive starts: a notify() between a cancelled wait (`wait() || timer`) and the next wait()
/// would be lost (a watch served from the cache slept through its events until its next
/// bookmark). A cancelled wait therefore resets the channel and leaves it notified: the next
/// wait returns at once, and its waiter re-checks its condition, as it must with a
/// level-triggered signal anyway.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/experimental/concurrent_channel.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstddef>
#include <optional>
#include <utility>

namespace kubehub::net {

namespace detail {

// NOLINTBEGIN(readability-identifier-naming): the names Asio's channel calls.

/// The channel's buffer for a capacity of one: at most one value, no allocation. (Its default,
/// std::deque, allocates ~600 bytes on construction: three signals per tunnel stream.)
template <typename T>
class AtMostOne {
 public:
  void push_back(T value) { value_.emplace(std::move(value)); }
  T& front() { return *value_; }
  T& back() { return *value_; }
  void pop_front() { value_.reset(); }
  bool empty() const { return !value_.has_value(); }
  std::size_t size() const { return value_.has_value() ? 1 : 0; }
  void clear() { value_.reset(); }

 private:
  std::optional<T> value_;
};

/// Asio's channel traits for void(error_code), with that buffer.
struct SignalTraits {
  template <typename... Signatures>
  struct rebind {
    using other = SignalTraits;
  };
  template <typename Element>
  struct container {
    using type = AtMostOne<Element>;
  };
  using receive_cancelled_signature = void(boost::system::error_code);
  template <typename F>
  static void invoke_receive_cancelled(F f) {
    const boost::system::error_code e = boost::asio::experimental::error::channel_cancelled;
    std::move(f)(e);
  }
  using receive_closed_signature = void(boost::system::error_code);
  template <typename F>
  static void invoke_receive_closed(F f) {
    const boost::system::error_code e = boost::asio::experimental::error::channel_closed;
    std::move(f)(e);
  }
};

// NOLINTEND(readability-identifier-naming)

}  // namespace detail

class AsyncSignal {
 public:
  explicit AsyncSignal(const boost::asio::any_io_executor& ex) : channel_(ex, 1) {}

  /// Wakes the waiter, or the next wait() if nobody waits now.
  void notify() { channel_.try_send(boost::system::error_code{}); }

  /// Returns after a notify() (possibly one that happened before the call), or when the wait is
  /// cancelled (per-operation cancellation is supported, so it composes with timers).
  boost::asio::awaitable<void> wait() {
    auto [ec] = co_await channel_.async_receive(boost::asio::as_tuple(boost::asio::use_awaitable));
    if (ec) {
      // Cancelled: see above. A notify() may already have been refused.
      channel_.reset();
      channel_.try_send(boost::system::error_code{});
    }
  }

 private:
  boost::asio::experimental::basic_concurrent_channel<
      boost::asio::any_io_executor, detail::SignalTraits, void(boost::system::error_code)>
      channel_;
};

}  // namespace kubehub::net
