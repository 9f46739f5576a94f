#pragma once
/// Bounds the users' connections a hub holds: in total, and per client address, so that idle
/// or half-open connections from one place cannot take every descriptor (and with them the
/// tunnels and the metaserver sync). At the total limit, a new connection takes the place of
/// the connection idle longest (no request in progress: in its TLS handshake, trickling a
/// request head, or kept alive between requests), as a server out of connections drains its
/// idle keep-alives: thousands of idle or slowloris connections cannot keep a working client
/// out, and the newest connections, a working client's among them, are shed last. Bookkeeping
/// only: shedding calls the connection's own callback. Thread-safe.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>

namespace kubehub::hub {

class ConnectionLimiter : public std::enable_shared_from_this<ConnectionLimiter> {
 public:
  /// 0 means no limit.
  ConnectionLimiter(size_t max_total, size_t max_per_client);

  /// Held for a connection's life; gives its place back when destroyed.
  class Slot {
   public:
    Slot() = default;
    Slot(Slot&& other) noexcept;
    Slot& operator=(Slot&& other) noexcept;
    Slot(const Slot&) = delete;
    Slot& operator=(const Slot&) = delete;
    ~Slot();

    /// How to shed this connection: called at most once, from the thread of a later
    /// tryAcquire (it must only post the closing to the connection's own executor). Set once,
    /// before the first markIdle.
    void onShed(std::function<void()> shed);
    /// The connection waits for a request (or its handshake): it may be shed, and is now the
    /// newest idle one. No allocation: marks move the slot's entry between two lists.
    void markIdle();
    /// A request is in progress: not to be shed until the next markIdle.
    void markBusy();

   private:
    friend class ConnectionLimiter;
    Slot(std::shared_ptr<ConnectionLimiter> owner, std::string client, uint64_t id)
        : owner_(std::move(owner)), client_(std::move(client)), id_(id) {}
    void release();
    std::shared_ptr<ConnectionLimiter> owner_;
    std::string client_;
    uint64_t id_ = 0;
  };

  enum class Refusal { kNone, kTotal, kPerClient };

  /// A slot for a connection from `client` (an address without port), or nothing when a limit
  /// is reached; `why` says which. At the total limit the longest-idle connection is shed (its
  /// callback called) to make room, and `*shed` (when given) is set.
  std::optional<Slot> tryAcquire(const std::string& client, Refusal* why, bool* shed = nullptr);

  size_t open() const;
  /// Connections marked idle now.
  size_t idle() const;
  /// Connections shed to make room since start.
  uint64_t shedTotal() const;
  size_t maxTotal() const { return max_total_; }
  size_t maxPerClient() const { return max_per_client_; }

 private:
  void release(const std::string& client, uint64_t id);
  void onShed(uint64_t id, std::function<void()> shed);
  void mark(uint64_t id, bool idle);

  struct Entry {
    uint64_t slot;
    std::function<void()> shed;
    bool idle = false;
  };
  using Entries = std::list<Entry>;

  const size_t max_total_;
  const size_t max_per_client_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  /// Slots shed but not yet released: they still count in open_, and must not hold out the
  /// connection admitted in their place.
  size_t shedding_ = 0;
  uint64_t next_id_ = 1;
  uint64_t shed_total_ = 0;
  std::unordered_map<std::string, size_t> per_client_;
  /// Every open slot not being shed is in one list: idle_ (oldest mark first) or busy_.
  Entries idle_;
  Entries busy_;
  std::unordered_map<uint64_t, Entries::iterator> entries_;
  std::unordered_set<uint64_t> shed_slots_;
};

}  // namespace kubehub::hub
