#pragma once
/// The generations of the change feeds hubs follow (see migrations/006_change_feeds.sql), and
/// the long polls waiting for them to move. ChangeFeed is the in-memory view: pure and
/// thread-safe. ChangeListener keeps it current from PostgreSQL: a connection of its own that
/// LISTENs for the triggers' notifications and reads the generations again on each (and every
/// few seconds, and after reconnecting, so a missed notification costs at most that long).

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"

namespace kubehub::metaserver {

class ChangeFeed {
 public:
  using Generations = std::map<std::string, int64_t, std::less<>>;
  using Ready = std::function<void(const Generations&)>;

  /// "revocations:3,bans:1" <-> a map (the `since` parameter and its echo). InvalidArgument
  /// for anything else.
  static absl::StatusOr<Generations> parse(std::string_view text);
  static std::string format(const Generations& g);

  Generations current() const;
  /// Whether the generations are known yet (the listener has read them once).
  bool known() const;
  /// New generations (from the listener): every waiter whose view differs is called.
  void update(Generations g);
  /// The listener lost the database: the generations are unknown until the next update();
  /// every waiter is called at once with an empty map, and so is every wait() meanwhile (the
  /// API answers 503, and hubs poll until it is back).
  void invalidate();
  /// Calls `ready` with the current generations once they differ from `since` (a feed missing
  /// from `since` differs): at once, on this thread, when they do already (or are unknown:
  /// then with an empty map); else later, from the thread that calls update(). Returns whether
  /// it was called at once. Waiters whose `deadline` passed are forgotten (their caller
  /// answered them already).
  bool wait(const Generations& since, std::chrono::steady_clock::time_point deadline, Ready ready);
  size_t waiting() const;

 private:
  static bool differs(const Generations& now, const Generations& since);
  struct Waiter {
    Generations since;
    std::chrono::steady_clock::time_point deadline;
    Ready ready;
  };
  mutable std::mutex mu_;
  Generations current_;
  bool known_ = false;
  std::vector<Waiter> waiters_;
};

class ChangeListener {
 public:
  ChangeListener(std::string conninfo, std::shared_ptr<ChangeFeed> feed,
                 std::chrono::milliseconds reread = std::chrono::seconds(5));
  ~ChangeListener();
  void start();
  void stop();
  /// Notifications received since start.
  uint64_t notifications() const { return notifications_.load(); }

 private:
  void run();
  absl::Status listenOnce();

  const std::string conninfo_;
  const std::shared_ptr<ChangeFeed> feed_;
  const std::chrono::milliseconds reread_;
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> notifications_{0};
  bool failing_ = false;  // the listener's thread only
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
};

}  // namespace kubehub::metaserver
