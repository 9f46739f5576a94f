#include "agent/commands/command_runner.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cerrno>
#include <cstring>
#include <vector>

namespace kubehub::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

constexpr auto kUseTuple = asio::as_tuple(asio::use_awaitable);
constexpr size_t kReadChunk = 64 * 1024;

/// Owns a descriptor until it is handed on.
struct Fd {
  int fd = -1;
  Fd() = default;
  explicit Fd(int f) : fd(f) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  void reset() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
  int release() {
    int f = fd;
    fd = -1;
    return f;
  }
};

/// The child's process group, killed and reaped when the call ends however it ends (a
/// cancelled coroutine included), so nothing it started outlives the call.
struct ChildGroup {
  pid_t pid = -1;
  bool reaped = false;
  int status = 0;
  ChildGroup() = default;
  ChildGroup(const ChildGroup&) = delete;
  ChildGroup& operator=(const ChildGroup&) = delete;
  void killGroup() const {
    if (pid > 0) ::kill(-pid, SIGKILL);
  }
  void termGroup() const {
    if (pid > 0) ::kill(-pid, SIGTERM);
  }
  /// Blocks briefly: only after SIGKILL or once the output ended.
  void reap() {
    if (pid <= 0 || reaped) return;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    reaped = true;
  }
  bool tryReap() {
    if (reaped) return true;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid || (r < 0 && errno != EINTR)) reaped = true;
    return reaped;
  }
  ~ChildGroup() {
    if (pid > 0 && !reaped) {
      killGroup();
      reap();
    } else if (pid > 0) {
      // The leader is gone; what it left behind in its group goes too.
      killGroup();
    }
  }
};

/// In the child, after fork: only async-signal-safe calls.
[[noreturn]] void execChild(const CommandCall& call, char* const* argv, char* const* envp,
                            int out_w, int err_w, int status_w) {
  ::setpgid(0, 0);
  int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd < 0 || ::dup2(null_fd, 0) < 0 || ::dup2(out_w, 1) < 0 || ::dup2(err_w, 2) < 0) {
    int e = errno;
    (void)!::write(status_w, &e, sizeof e);
    ::_exit(127);
  }
  // Nothing the agent holds (tunnel sockets, keys) reaches the command; the status pipe is
  // close-on-exec already and stays usable until the exec.
  long max_fd = ::sysconf(_SC_OPEN_MAX);
  if (max_fd < 0 || max_fd > 65536) max_fd = 65536;
  for (int fd = 3; fd < max_fd; ++fd) {
    if (fd != status_w) ::close(fd);
  }
  if (::chdir(call.working_dir.c_str()) < 0) {
    int e = errno;
    (void)!::write(status_w, &e, sizeof e);
    ::_exit(127);
  }
  ::execve(argv[0], argv, envp);
  int e = errno;
  (void)!::write(status_w, &e, sizeof e);
  ::_exit(127);
}

asio::awaitable<int> readable(asio::posix::stream_descriptor* d, int which) {
  if (!d->is_open()) {
    asio::steady_timer never(co_await asio::this_coro::executor,
                             asio::steady_timer::time_point::max());
    co_await never.async_wait(kUseTuple);
    co_return -1;
  }
  co_await d->async_wait(asio::posix::stream_descriptor::wait_read, kUseTuple);
  co_return which;
}

asio::awaitable<int> until(std::chrono::steady_clock::time_point deadline) {
  asio::steady_timer t(co_await asio::this_coro::executor, deadline);
  co_await t.async_wait(kUseTuple);
  co_return 2;
}

}  // namespace

std::string_view outcomeName(CommandResult::Outcome outcome) {
  switch (outcome) {
    case CommandResult::Outcome::kExited:
      return "exited";
    case CommandResult::Outcome::kSignaled:
      return "signaled";
    case CommandResult::Outcome::kTimeout:
      return "timeout";
    case CommandResult::Outcome::kOutputLimit:
      return "output_limit";
    case CommandResult::Outcome::kStartFailed:
      return "start_failed";
    case CommandResult::Outcome::kCancelled:
      return "cancelled";
  }
  return "exited";
}

asio::awaitable<CommandResult> runCommand(CommandCall call, CommandOutput* out) {
  CommandResult result;
  auto ex = co_await asio::this_coro::executor;
  const auto deadline = std::chrono::steady_clock::now() + call.timeout;

  int out_pipe[2], err_pipe[2], status_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) < 0) {
    result.outcome = CommandResult::Outcome::kStartFailed;
    result.message = std::string("pipe: ") + std::strerror(errno);
    co_return result;
  }
  Fd out_r(out_pipe[0]), out_w(out_pipe[1]);
  if (::pipe2(err_pipe, O_CLOEXEC) < 0) {
    result.outcome = CommandResult::Outcome::kStartFailed;
    result.message = std::string("pipe: ") + std::strerror(errno);
    co_return result;
  }
  Fd err_r(err_pipe[0]), err_w(err_pipe[1]);
  if (::pipe2(status_pipe, O_CLOEXEC) < 0) {
    result.outcome = CommandResult::Outcome::kStartFailed;
    result.message = std::string("pipe: ") + std::strerror(errno);
    co_return result;
  }
  Fd status_r(status_pipe[0]), status_w(status_pipe[1]);

  // Everything the child needs is built before fork: after it, no allocation.
  std::vector<char*> argv;
  for (auto& a : call.argv) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (auto& e : call.env) envp.push_back(e.data());
  envp.push_back(nullptr);

  ChildGroup child;
  child.pid = ::fork();
  if (child.pid < 0) {
    result.outcome = CommandResult::Outcome::kStartFailed;
    result.message = std::string("fork: ") + std::strerror(errno);
    child.pid = -1;
    co_return result;
  }
  if (child.pid == 0) execChild(call, argv.data(), envp.data(), out_w.fd, err_w.fd, status_w.fd);
  // Also here, so that a kill of the group cannot race the child's own setpgid.
  ::setpgid(child.pid, child.pid);
  out_w.reset();
  err_w.reset();
  status_w.reset();
  int child_errno = 0;
  ssize_t got;
  while ((got = ::read(status_r.fd, &child_errno, sizeof child_errno)) < 0 && errno == EINTR) {
  }
  if (got == static_cast<ssize_t>(sizeof child_errno)) {
    child.reap();
    result.outcome = CommandResult::Outcome::kStartFailed;
    result.message = "cannot start " + call.argv[0] + ": " + std::strerror(child_errno);
    co_return result;
  }

  ::fcntl(out_r.fd, F_SETFL, ::fcntl(out_r.fd, F_GETFL) | O_NONBLOCK);
  ::fcntl(err_r.fd, F_SETFL, ::fcntl(err_r.fd, F_GETFL) | O_NONBLOCK);
  asio::posix::stream_descriptor out_d(ex, out_r.release());
  asio::posix::stream_descriptor err_d(ex, err_r.release());
  uint64_t written = 0;
  std::vector<char> buf(kReadChunk);

  auto stop = [&](CommandResult::Outcome why) {
    child.killGroup();
    child.reap();
    result.outcome = why;
  };
  // At the timeout the group gets SIGTERM and the grace to wind down (its output still read
  // and passed on); at the end of the grace, or at once without one, SIGKILL.
  bool terminating = false;
  auto next_step = deadline;
  auto timedOut = [&]() {
    if (!terminating && call.kill_grace.count() > 0) {
      terminating = true;
      child.termGroup();
      next_step = std::chrono::steady_clock::now() + call.kill_grace;
      return false;
    }
    stop(CommandResult::Outcome::kTimeout);
    result.killed = true;
    return true;
  };

  while (out_d.is_open() || err_d.is_open()) {
    auto ready = co_await (readable(&out_d, 0) || readable(&err_d, 1) || until(next_step));
    if (ready.index() == 2) {
      if (timedOut()) co_return result;
      continue;
    }
    asio::posix::stream_descriptor& d = ready.index() == 0 ? out_d : err_d;
    ssize_t n = ::read(d.native_handle(), buf.data(), buf.size());
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
    if (n <= 0) {
      boost::system::error_code ignored;
      d.close(ignored);
      continue;
    }
    size_t take = static_cast<size_t>(n);
    bool over = written + take > call.max_output_bytes;
    if (over) take = static_cast<size_t>(call.max_output_bytes - written);
    written += take;
    if (take > 0) {
      bool listening =
          co_await out->write(ready.index() == 0 ? OutputStream::kStdout : OutputStream::kStderr,
                              std::string(buf.data(), take));
      if (!listening) {
        stop(CommandResult::Outcome::kCancelled);
        co_return result;
      }
    }
    if (over) {
      stop(CommandResult::Outcome::kOutputLimit);
      co_return result;
    }
  }
  // The output ended; the command may still be running (or have left a child holding no pipe).
  while (!child.tryReap()) {
    if (std::chrono::steady_clock::now() >= next_step && timedOut()) co_return result;
    asio::steady_timer t(ex, std::chrono::milliseconds(10));
    co_await t.async_wait(kUseTuple);
  }
  if (terminating) {
    // It wound down within its grace; still, it ran out of time.
    result.outcome = CommandResult::Outcome::kTimeout;
    co_return result;
  }
  if (WIFEXITED(child.status)) {
    result.outcome = CommandResult::Outcome::kExited;
    result.exit_code = WEXITSTATUS(child.status);
  } else if (WIFSIGNALED(child.status)) {
    result.outcome = CommandResult::Outcome::kSignaled;
    result.signal = WTERMSIG(child.status);
  }
  co_return result;
}

}  // namespace kubehub::agent
