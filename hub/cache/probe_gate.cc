#include "hub/cache/probe_gate.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <variant>

#include "common/net/async_signal.h"

namespace kubehub::hub::cache {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

/// Ends a probe run even when the running coroutine is destroyed mid-probe (its client went
/// away): waiters are woken and one of them starts the next probe, nobody waits on a probe
/// that will never finish.
struct ProbeRunGuard {
  ProbeGate* gate;
  uint64_t generation;
  bool done = false;

  ~ProbeRunGuard() {
    if (done) return;
    std::vector<std::shared_ptr<net::AsyncSignal>> wake;
    {
      std::lock_guard lock(gate->mu_);
      gate->running_ = false;
      wake.swap(gate->waiters_);
    }
    for (auto& w : wake) w->notify();
  }
};

void ProbeGate::finishLocked(uint64_t generation, absl::StatusOr<uint64_t> result,
                             std::vector<std::shared_ptr<net::AsyncSignal>>* wake) {
  result_ = std::move(result);
  finished_ = generation;
  running_ = false;
  wake->swap(waiters_);
}

uint64_t ProbeGate::probesStarted() const {
  std::lock_guard lock(mu_);
  return started_;
}

asio::awaitable<absl::StatusOr<uint64_t>> ProbeGate::run(Probe probe,
                                                         std::chrono::milliseconds timeout) {
  auto ex = co_await asio::this_coro::executor;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  uint64_t need = 0;
  {
    std::lock_guard lock(mu_);
    need = started_ + 1;  // any probe that starts from now on is recent enough
  }
  for (;;) {
    uint64_t mine = 0;
    std::shared_ptr<net::AsyncSignal> signal;
    {
      std::lock_guard lock(mu_);
      if (finished_ >= need) co_return result_;
      if (!running_ && std::chrono::steady_clock::now() >= deadline) {
        // Woken with no time left (the probe it waited for failed): no probe it would cut.
        co_return absl::DeadlineExceededError(
            "no resourceVersion probe of the edge finished in time");
      }
      if (!running_) {
        running_ = true;
        mine = ++started_;
      } else {
        signal = std::make_shared<net::AsyncSignal>(ex);
        waiters_.push_back(signal);
      }
    }
    if (mine != 0) {
      ProbeRunGuard guard{this, mine};
      // Bounded, by the whole timeout from its start: a probe the edge never answers (a hung
      // API server) would otherwise hold this reader, and every reader after it, for as long as
      // the tunnel lives. Not by this reader's own deadline: the first waiter woken starts the
      // next probe with the least time left, and would cut it short for all who share it. So a
      // reader waits for at most two probes' timeouts.
      asio::steady_timer limit(ex);
      limit.expires_after(timeout);
      auto raced = co_await (probe() || limit.async_wait(asio::as_tuple(asio::use_awaitable)));
      absl::StatusOr<uint64_t> result =
          raced.index() == 0 ? std::get<0>(std::move(raced))
                             : absl::StatusOr<uint64_t>(absl::DeadlineExceededError(
                                   "the resourceVersion probe of the edge did not finish in time"));
      std::vector<std::shared_ptr<net::AsyncSignal>> wake;
      {
        std::lock_guard lock(mu_);
        finishLocked(mine, result, &wake);
        guard.done = true;
      }
      for (auto& w : wake) w->notify();
      co_return result;
    }
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::steady_clock::duration::zero()) {
      co_return absl::DeadlineExceededError(
          "no resourceVersion probe of the edge finished in time");
    }
    asio::steady_timer timer(ex);
    timer.expires_after(left);
    co_await (signal->wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
  }
}

}  // namespace kubehub::hub::cache
