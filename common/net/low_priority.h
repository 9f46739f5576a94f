#pragma once
/// An executor whose work yields to everything else on its io_context: each of its handlers
/// runs only after the handlers that were ready before it. The hub runs agents' TLS handshakes
/// on it: in a reconnect storm thousands of them are ready at once, each step costing a
/// signature or a certificate check, and on a plain executor a user's request (or an
/// established tunnel's frame) on the same thread waited behind all of them.
/// It serialises its own handlers only: it gives no strand's guarantees to an io_context run by
/// several threads (IoPool runs each context on one thread).

#include <boost/asio/execution.hpp>
#include <boost/asio/io_context.hpp>
#include <deque>
#include <memory>
#include <mutex>
#include <utility>

namespace kubehub::net {

/// The queue behind a LowPriorityExecutor: one per io_context. Its handlers run one per pass
/// of the context's queue (each run posts the next to the back of it), in order.
class LowPriorityQueue : public std::enable_shared_from_this<LowPriorityQueue> {
 public:
  explicit LowPriorityQueue(boost::asio::io_context& io) : io_(io) {}

  /// A move-only nullary function (handlers are move-only).
  class Task {
   public:
    Task() = default;
    template <typename F>
    explicit Task(F f) : impl_(std::make_unique<Impl<F>>(std::move(f))) {}
    void operator()() { impl_->run(); }

   private:
    struct Base {
      virtual ~Base() = default;
      virtual void run() = 0;
    };
    template <typename F>
    struct Impl final : Base {
      explicit Impl(F f_in) : f(std::move(f_in)) {}
      void run() override { std::move(f)(); }
      F f;
    };
    std::unique_ptr<Base> impl_;
  };

  void push(Task task);
  /// For shutdown, after the context's shutdown() and before any context is destroyed: destroys
  /// the handlers still queued and the coroutine frames they own, and from then on destroys
  /// what is pushed at once (an abandoned coroutine posts its own unwinding to its executor).
  void clear();
  size_t size() const;
  boost::asio::io_context& context() const noexcept { return io_; }

 private:
  void runOne();

  boost::asio::io_context& io_;
  mutable std::mutex mu_;
  std::deque<Task> tasks_;
  bool scheduled_ = false;  // a runOne() is posted
  bool closed_ = false;     // clear() ran: nothing runs any more
};

class LowPriorityExecutor {
 public:
  explicit LowPriorityExecutor(std::shared_ptr<LowPriorityQueue> queue)
      : queue_(std::move(queue)) {}

  boost::asio::io_context& query(boost::asio::execution::context_t) const noexcept {
    return queue_->context();
  }
  static constexpr boost::asio::execution::blocking_t query(
      boost::asio::execution::blocking_t) noexcept {
    return boost::asio::execution::blocking.never;
  }
  template <typename F>
  void execute(F f) const {
    queue_->push(LowPriorityQueue::Task(std::move(f)));
  }
  friend bool operator==(const LowPriorityExecutor& a, const LowPriorityExecutor& b) noexcept {
    return a.queue_ == b.queue_;
  }
  friend bool operator!=(const LowPriorityExecutor& a, const LowPriorityExecutor& b) noexcept {
    return a.queue_ != b.queue_;
  }

 private:
  std::shared_ptr<LowPriorityQueue> queue_;
};

}  // namespace kubehub::net
