#pragma once
/// An owner for spawned coroutines: instead of `co_spawn(ex, task, detached)`, a server spawns
/// its accept loop, timers and connections into its TaskGroup; `stop()` cancels every one
/// (terminal cancellation, delivered on the task's own executor: the awaited Asio operation ends
/// with operation_aborted, and the coroutine's next co_await throws it, so RAII must clean up)
/// and `wait`/`asyncWait` tell when the last has ended. A task that ends with any other
/// exception is logged with the group's name (detached would drop it).
/// Thread-safe: spawn, stop, size and the waits from any thread; never block in `wait` on a
/// thread that runs the tasks' executors (they could not finish). A task's executor must run
/// one handler at a time (a strand, or a context on one thread): the cancellation is posted
/// through it and must not run beside the task.

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

namespace kubehub::net {

class TaskGroup {
 public:
  /// `name` says whose tasks these are in log lines ("users", "admin").
  explicit TaskGroup(std::string name);
  /// Stops the tasks (does not wait for them): they hold what they need, not the group.
  ~TaskGroup();
  TaskGroup(const TaskGroup&) = delete;
  TaskGroup& operator=(const TaskGroup&) = delete;

  /// Starts `task` on `ex`, owned by the group. After stop(), the task starts cancelled: its
  /// first awaited operation fails with operation_aborted.
  void spawn(const boost::asio::any_io_executor& ex, boost::asio::awaitable<void> task);

  /// Cancels every task, present and future. Idempotent.
  void stop();
  bool stopped() const;

  /// Tasks running now.
  size_t size() const;

  /// Blocks until no task runs or `timeout` passed; whether none runs.
  bool wait(std::chrono::milliseconds timeout) const;
  /// The same without blocking (it looks every 10 ms), for code on an executor; never awaited by
  /// one of the group's own tasks (it would wait for itself).
  boost::asio::awaitable<bool> asyncWait(std::chrono::milliseconds timeout) const;

 private:
  struct State;
  std::shared_ptr<State> state_;
};

}  // namespace kubehub::net
