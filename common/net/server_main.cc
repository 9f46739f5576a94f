#include "common/net/server_main.h"

#include <malloc.h>
#include <sched.h>
#include <sys/resource.h>

#include <algorithm>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/signal_set.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <thread>
#include <vector>

#include "common/log/log.h"

#if defined(__SANITIZE_ADDRESS__)
// ASan's allocator replaces malloc's, so malloc_trim has nothing to trim there; this is its
// equivalent (declared by the sanitizer runtime, which has no header for it in GCC 12).
extern "C" void __sanitizer_purge_allocator();
#endif

namespace kubehub::net {

void exitWithConfigError(std::string_view program, const absl::Status& status) {
  std::fprintf(stderr, "%.*s: error: %.*s\n", static_cast<int>(program.size()), program.data(),
               static_cast<int>(status.message().size()), status.message().data());
  std::exit(2);
}

namespace {

using SignalHandler = std::function<void(const boost::system::error_code&, int)>;

/// First SIGINT/SIGTERM: `on_signal` (a graceful shutdown); the second: `stop_now`. Returns the
/// handler, whose self-reference the caller breaks once the contexts have stopped.
std::shared_ptr<SignalHandler> watchSignals(boost::asio::io_context& io,
                                            std::function<void()> on_signal,
                                            std::function<void()> stop_now) {
  auto signals = std::make_shared<boost::asio::signal_set>(io, SIGINT, SIGTERM);
  auto count = std::make_shared<int>(0);
  auto handler_ptr = std::make_shared<SignalHandler>();
  *handler_ptr = [signals, count, on_signal, stop_now, handler_ptr](
                     const boost::system::error_code& ec, int signo) {
    if (ec) return;
    if ((*count)++ == 0) {
      log::info("shutting down", {{"signal", signo}});
      if (on_signal) on_signal();
      signals->async_wait(*handler_ptr);
    } else {
      log::warn("second signal, stopping now");
      stop_now();
    }
  };
  signals->async_wait(*handler_ptr);
  std::signal(SIGPIPE, SIG_IGN);
  return handler_ptr;
}

/// io.run(), resumed after a handler throws: a resource error in one connection's handler
/// (descriptors, memory) must not end the process and every other connection with it.
void runResilient(boost::asio::io_context& io) {
  for (;;) {
    try {
      io.run();
      return;
    } catch (const std::exception& e) {
      log::error("an event handler failed; the event loop goes on", {{"error", e.what()}});
    }
  }
}

}  // namespace

void runIoContext(boost::asio::io_context& io, int threads, std::function<void()> on_signal) {
  auto handler = watchSignals(io, std::move(on_signal), [&io] { io.stop(); });
  std::vector<std::thread> pool;
  for (int i = 1; i < threads; ++i) pool.emplace_back([&io] { runResilient(io); });
  runResilient(io);
  for (auto& t : pool) t.join();
  *handler = nullptr;  // breaks the handler's self-reference
}

std::optional<double> parseCpuMax(std::string_view text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string_view quota = text.substr(0, space), period = text.substr(space + 1);
  if (quota == "max") return std::nullopt;
  int64_t q = 0, p = 0;
  auto rq = std::from_chars(quota.data(), quota.data() + quota.size(), q);
  auto rp = std::from_chars(period.data(), period.data() + period.size(), p);
  if (rq.ec != std::errc() || rq.ptr != quota.data() + quota.size() || rp.ec != std::errc() ||
      rp.ptr != period.data() + period.size() || q <= 0 || p <= 0) {
    return std::nullopt;
  }
  return static_cast<double>(q) / static_cast<double>(p);
}

std::optional<std::string> parseCgroupV2Path(std::string_view proc_self_cgroup) {
  std::istringstream in{std::string(proc_self_cgroup)};
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("0::", 0) == 0 && line.size() > 3 && line[3] == '/') return line.substr(3);
  }
  return std::nullopt;
}

namespace {

std::string readSmallFile(const std::string& path) {
  std::ifstream in(path);
  std::string text;
  std::getline(in, text, '\0');
  return text;
}

/// The smallest cpu.max quota on the way from the process's cgroup to the root (a parent's
/// limit binds its children too), in CPUs.
std::optional<double> cgroupCpuLimit() {
  auto path = parseCgroupV2Path(readSmallFile("/proc/self/cgroup"));
  if (!path || path->find("..") != std::string::npos) return std::nullopt;
  std::optional<double> limit;
  std::string dir = *path;
  while (true) {
    std::string base = "/sys/fs/cgroup" + (dir == "/" ? std::string() : dir);
    if (auto cpus = parseCpuMax(readSmallFile(base + "/cpu.max")))
      limit = limit ? std::min(*limit, *cpus) : *cpus;
    if (dir == "/" || dir.empty()) break;
    size_t slash = dir.rfind('/');
    dir = slash == 0 ? "/" : dir.substr(0, slash);
  }
  return limit;
}

}  // namespace

bool releaseFreedMemory() {
  static std::atomic<int64_t> last_ms{INT64_MIN / 2};
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  int64_t last = last_ms.load();
  if (now - last < 5000 || !last_ms.compare_exchange_strong(last, now)) return false;
#if defined(__SANITIZE_ADDRESS__)
  __sanitizer_purge_allocator();
#else
  malloc_trim(0);
#endif
  return true;
}

uint64_t raiseDescriptorLimit() {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) return 0;
  if (lim.rlim_cur < lim.rlim_max) {
    rlimit raised = lim;
    raised.rlim_cur = lim.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) lim = raised;
  }
  return lim.rlim_cur == RLIM_INFINITY ? UINT64_MAX : static_cast<uint64_t>(lim.rlim_cur);
}

int usableCpus() {
  int cpus = static_cast<int>(std::thread::hardware_concurrency());
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) cpus = CPU_COUNT(&set);
  if (auto limit = cgroupCpuLimit()) {
    cpus = static_cast<int>(std::ceil(std::min(*limit, static_cast<double>(cpus))));
  }
  return std::max(cpus, 1);
}

/// An io_context whose shutdown (normally only run by its destructor) the pool can call.
class IoPool::Context : public boost::asio::io_context {
 public:
  Context()
      : boost::asio::io_context(1),  // hint 1: only ever run by one thread
        low_priority(std::make_shared<LowPriorityQueue>(*this)) {}
  // Before the base destroys the services: nothing may stay queued past this context.
  ~Context() { low_priority->clear(); }
  using boost::asio::execution_context::shutdown;
  std::shared_ptr<LowPriorityQueue> low_priority;
};

struct IoPool::Guards {
  std::vector<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> guards;
};

IoPool::IoPool(int threads, int tunnel_threads) : guards_(std::make_unique<Guards>()) {
  user_contexts_ = std::max(threads, 1);
  for (int i = 0; i < user_contexts_ + std::max(tunnel_threads, 0); ++i) {
    contexts_.push_back(std::make_unique<Context>());
    guards_->guards.push_back(boost::asio::make_work_guard(*contexts_.back()));
  }
}

IoPool::~IoPool() {
  // Destroy every context's pending handlers, and the coroutine frames they own, while all the
  // contexts still exist: a frame on one context owns sockets, timers and streams registered
  // with another (a user's connection and the tunnel it reads from). Destroying the contexts one
  // by one freed a context before the frames holding its timers (heap corruption at exit).
  for (auto& c : contexts_) c->shutdown();
  for (auto& c : contexts_) c->low_priority->clear();
}

LowPriorityExecutor IoPool::lowPriority(boost::asio::execution_context& context) {
  for (auto& c : contexts_) {
    if (c.get() == &context) return LowPriorityExecutor(c->low_priority);
  }
  std::abort();  // not one of this pool's contexts: a programming error
}

boost::asio::io_context* IoPool::userContextOf(const boost::asio::any_io_executor& executor) {
  if (!executor) return nullptr;
  auto& context = boost::asio::query(executor, boost::asio::execution::context);
  for (int i = 0; i < user_contexts_; ++i) {
    if (contexts_[static_cast<size_t>(i)].get() == &context)
      return contexts_[static_cast<size_t>(i)].get();
  }
  return nullptr;
}

boost::asio::io_context& IoPool::main() { return *contexts_.front(); }

boost::asio::io_context& IoPool::next() {
  return *contexts_[next_.fetch_add(1, std::memory_order_relaxed) % user_contexts_];
}

boost::asio::io_context& IoPool::nextTunnel() {
  size_t tunnel_contexts = contexts_.size() - static_cast<size_t>(user_contexts_);
  if (tunnel_contexts == 0) return next();
  return *contexts_[static_cast<size_t>(user_contexts_) +
                    next_tunnel_.fetch_add(1, std::memory_order_relaxed) % tunnel_contexts];
}

void IoPool::stop() {
  for (auto& c : contexts_) c->stop();
}

void IoPool::run(std::function<void()> on_signal) {
  std::shared_ptr<SignalHandler> handler;
  if (on_signal) handler = watchSignals(main(), std::move(on_signal), [this] { stop(); });
  std::vector<std::thread> threads;
  for (size_t i = 1; i < contexts_.size(); ++i) {
    threads.emplace_back([c = contexts_[i].get()] { runResilient(*c); });
  }
  runResilient(main());
  stop();  // the main context can also end by running out of work
  for (auto& t : threads) t.join();
  guards_->guards.clear();
  if (handler) *handler = nullptr;
}

}  // namespace kubehub::net
