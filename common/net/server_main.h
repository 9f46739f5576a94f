#pragma once
/// Start-up helpers shared by every binary's main.cc: one-line fatal errors, the io_context
/// thread pool, and SIGINT/SIGTERM handling.

#include <atomic>
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "common/net/low_priority.h"

namespace kubehub::net {

/// Prints "PROGRAM: error: MESSAGE" to stderr and exits with code 2 (bad configuration).
[[noreturn]] void exitWithConfigError(std::string_view program, const absl::Status& status);

/// Runs `io` on `threads` threads until it stops. On the first SIGINT/SIGTERM calls
/// `on_signal` (which should begin a graceful shutdown and eventually stop `io`); a second
/// signal stops `io` at once.
void runIoContext(boost::asio::io_context& io, int threads, std::function<void()> on_signal);

/// How many CPUs this process can keep busy: those its affinity mask allows (taskset, a
/// container's cpuset), fewer when a cgroup v2 CPU quota (cpu.max: a container's CPU limit)
/// allows less, rounded up; at least 1. The default for I/O thread counts: a thread more than
/// there are CPUs waits out another's time slice, and every connection on it waits too.
int usableCpus();

/// Raises the soft limit on open descriptors to the hard limit (servers hold one per
/// connection; the usual soft default of 1024 is far below what a hub needs) and returns the
/// limit now in force.
uint64_t raiseDescriptorLimit();

/// Hands whole free pages of the heap back to the system (malloc_trim), so a peak (a large
/// list parsed, thousands of connections closed) is not held for the life of the process. The
/// trim walks the whole heap on the calling thread, so it runs at most once every 5 s
/// whoever asks; returns whether this call trimmed.
bool releaseFreedMemory();

/// cgroup v2's cpu.max ("QUOTA PERIOD" in microseconds, QUOTA "max" when unlimited) as CPUs;
/// nullopt when unlimited or unreadable.
std::optional<double> parseCpuMax(std::string_view text);

/// The process's cgroup v2 path from the text of /proc/self/cgroup (the "0::PATH" line).
std::optional<std::string> parseCgroupV2Path(std::string_view proc_self_cgroup);

/// Several io_contexts, each run by its own thread. A connection is placed on one context for
/// its whole life, so its handlers never move between threads: no contention on the scheduler's
/// lock or a strand's, and memory is freed by the thread that allocated it. Servers whose
/// handlers block (the metaserver waits on PostgreSQL) should use one shared context instead.
///
/// The contexts form two groups: `threads` for users' connections (the first of them also runs
/// listeners and timers) and `tunnel_threads` for agents' tunnels. Apart, the kernel shares the
/// CPU between the groups' threads: during a reconnect storm thousands of agents' TLS
/// handshakes queue on the tunnel threads, and a user's request waits for its own thread's turn
/// on a core, not behind that queue. With no tunnel threads, tunnels share the users' contexts.
/// next(), nextTunnel() and contexts are safe from any thread; run() once, from the main thread.
class IoPool {
 public:
  explicit IoPool(int threads, int tunnel_threads = 0);
  ~IoPool();
  IoPool(const IoPool&) = delete;
  IoPool& operator=(const IoPool&) = delete;

  /// Context 0: listeners, timers and everything that is not a connection. Run by the thread
  /// that calls run().
  boost::asio::io_context& main();
  /// The context for a new user connection, round robin over the users' group.
  boost::asio::io_context& next();
  /// The context for a new tunnel, round robin over the tunnels' group (the users' when empty).
  boost::asio::io_context& nextTunnel();
  /// An executor on `context` (one of this pool's) whose handlers yield to the context's other
  /// work (see low_priority.h).
  LowPriorityExecutor lowPriority(boost::asio::execution_context& context);
  /// The users' context whose thread runs `executor` (a context's own executor or a strand on
  /// it), or null when it runs elsewhere (a tunnel thread apart, another pool).
  boost::asio::io_context* userContextOf(const boost::asio::any_io_executor& executor);
  /// Every context, both groups.
  int size() const { return static_cast<int>(contexts_.size()); }
  int userThreads() const { return user_contexts_; }

  /// Runs every context until stop(). Signals as in runIoContext; none are watched when
  /// `on_signal` is empty (tests).
  void run(std::function<void()> on_signal);
  /// Stops every context; run() returns once their threads have left.
  void stop();

 private:
  class Context;
  struct Guards;
  std::vector<std::unique_ptr<Context>> contexts_;
  std::unique_ptr<Guards> guards_;
  int user_contexts_ = 1;
  std::atomic<unsigned> next_{0};
  std::atomic<unsigned> next_tunnel_{0};
};

}  // namespace kubehub::net
