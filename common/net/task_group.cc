#include "common/net/task_group.h"

#include <algorithm>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/system/system_error.hpp>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/log/log.h"

namespace kubehub::net {

namespace asio = boost::asio;

namespace {

/// One task's cancellation: the signal lives as long as the task (the slot points into it) and
/// is emitted only on the task's executor, since signals are not thread-safe.
struct Task {
  explicit Task(asio::any_io_executor e) : ex(std::move(e)) {}
  asio::any_io_executor ex;
  asio::cancellation_signal signal;
};

void cancelOn(const std::shared_ptr<Task>& task) {
  asio::post(task->ex, [task] { task->signal.emit(asio::cancellation_type::terminal); });
}

}  // namespace

struct TaskGroup::State {
  explicit State(std::string n) : name(std::move(n)) {}
  const std::string name;
  mutable std::mutex mu;
  mutable std::condition_variable idle;
  bool stopped = false;
  uint64_t next_id = 0;
  std::unordered_map<uint64_t, std::shared_ptr<Task>> tasks;

  void finished(uint64_t id, const std::exception_ptr& error) {
    if (error) {
      try {
        std::rethrow_exception(error);
      } catch (const boost::system::system_error& e) {
        // Resumed after stop(): a coroutine's next co_await throws operation_aborted.
        if (e.code() == asio::error::operation_aborted)
          log::debug("a task ended cancelled", {{"group", name}});
        else
          log::error("a task ended with an exception", {{"group", name}, {"error", e.what()}});
      } catch (const std::exception& e) {
        log::error("a task ended with an exception", {{"group", name}, {"error", e.what()}});
      } catch (...) {
        log::error("a task ended with an unknown exception", {{"group", name}});
      }
    }
    {
      std::lock_guard lock(mu);
      tasks.erase(id);
      if (!tasks.empty()) return;
    }
    idle.notify_all();
  }
};

TaskGroup::TaskGroup(std::string name) : state_(std::make_shared<State>(std::move(name))) {}

TaskGroup::~TaskGroup() { stop(); }

void TaskGroup::spawn(const asio::any_io_executor& ex, asio::awaitable<void> task) {
  auto t = std::make_shared<Task>(ex);
  uint64_t id = 0;
  bool stopped = false;
  {
    std::lock_guard lock(state_->mu);
    id = state_->next_id++;
    state_->tasks.emplace(id, t);
    stopped = state_->stopped;
  }
  // The completion handler, holding the task's signal until the coroutine is done with its
  // slot. The slot is a member rather than bind_cancellation_slot's: for the binder co_spawn
  // dispatches each cancellation to the task's executor once more, and on one that never runs
  // inline (the low-priority one) that delivery could run after the task had ended and freed
  // the signal (a crash at hub shutdown with agents' handshakes in progress). For a handler with
  // no associated executor it delivers within cancelOn's emit, already on the task's executor.
  struct Done {
    using cancellation_slot_type = asio::cancellation_slot;
    // NOLINTNEXTLINE(readability-identifier-naming): the name Asio's associator looks for.
    cancellation_slot_type get_cancellation_slot() const noexcept { return task->signal.slot(); }
    void operator()(const std::exception_ptr& error) const { state->finished(id, error); }
    std::shared_ptr<State> state;
    uint64_t id;
    std::shared_ptr<Task> task;
  };
  asio::co_spawn(ex, std::move(task), Done{state_, id, t});
  if (stopped) cancelOn(t);
}

void TaskGroup::stop() {
  std::vector<std::shared_ptr<Task>> running;
  {
    std::lock_guard lock(state_->mu);
    if (state_->stopped) return;
    state_->stopped = true;
    running.reserve(state_->tasks.size());
    for (const auto& [id, t] : state_->tasks) running.push_back(t);
  }
  for (const auto& t : running) cancelOn(t);
}

bool TaskGroup::stopped() const {
  std::lock_guard lock(state_->mu);
  return state_->stopped;
}

size_t TaskGroup::size() const {
  std::lock_guard lock(state_->mu);
  return state_->tasks.size();
}

bool TaskGroup::wait(std::chrono::milliseconds timeout) const {
  std::unique_lock lock(state_->mu);
  return state_->idle.wait_for(lock, timeout, [&] { return state_->tasks.empty(); });
}

asio::awaitable<bool> TaskGroup::asyncWait(std::chrono::milliseconds timeout) const {
  // Polled: a timer cancelled from the thread where the last task ends could race with this
  // coroutine's own use of it on a multi-threaded context. Only stopping waits here.
  constexpr auto kStep = std::chrono::milliseconds(10);
  asio::steady_timer timer(co_await asio::this_coro::executor);
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (size() == 0) co_return true;
    auto now = std::chrono::steady_clock::now();
    if (now >= deadline) co_return false;
    timer.expires_after(std::min<std::chrono::steady_clock::duration>(kStep, deadline - now));
    boost::system::error_code ec;
    co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return size() == 0;  // the waiter itself was cancelled
  }
}

}  // namespace kubehub::net
