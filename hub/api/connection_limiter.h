#pragma once
/// Bounds the users' connections a hub holds: in total, and per client address, so that idle
/// or half-open connections from one place cannot take every descriptor (and with them the
/// tunnels and the metaserver sync). Pure bookkeeping, no I/O. Thread-safe.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

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

   private:
    friend class ConnectionLimiter;
    Slot(std::shared_ptr<ConnectionLimiter> owner, std::string client)
        : owner_(std::move(owner)), client_(std::move(client)) {}
    void release();
    std::shared_ptr<ConnectionLimiter> owner_;
    std::string client_;
  };

  enum class Refusal { kNone, kTotal, kPerClient };

  /// A slot for a connection from `client` (an address without port), or nothing when a limit
  /// is reached; `why` says which.
  std::optional<Slot> tryAcquire(const std::string& client, Refusal* why);

  size_t open() const;
  size_t maxTotal() const { return max_total_; }
  size_t maxPerClient() const { return max_per_client_; }

 private:
  void release(const std::string& client);

  const size_t max_total_;
  const size_t max_per_client_;
  mutable std::mutex mu_;
  size_t open_ = 0;
  std::unordered_map<std::string, size_t> per_client_;
};

}  // namespace kubehub::hub
