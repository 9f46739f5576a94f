#pragma once
/// Fair shares of a tunnel's streams: how many a single user, and a single tenant, may hold
/// at once on one cluster, counted apart for long-lived streams (watches, followed logs, exec,
/// port-forward) and short requests, so that one user's thousand watches cannot take the
/// streams every other tenant needs (the idea of kube-apiserver's priority and fairness:
/// concurrency shares per flow, long-running requests apart). Pure bookkeeping. Thread-safe.

#include <cstddef>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace kubehub::hub {

struct StreamQuotaLimits {
  /// Per cluster, 0 = no limit.
  size_t long_lived_per_user = 128;
  size_t long_lived_per_tenant = 512;
  size_t requests_per_user = 256;
  size_t requests_per_tenant = 512;
};

class StreamQuota : public std::enable_shared_from_this<StreamQuota> {
 public:
  explicit StreamQuota(StreamQuotaLimits limits) : limits_(limits) {}

  /// Held while a stream is open; gives its share back when destroyed.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&& other) noexcept;
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease();

   private:
    friend class StreamQuota;
    std::shared_ptr<StreamQuota> owner_;
    std::string user_key_, tenant_key_;
  };

  /// What refused a stream: the limit's name (a flag), its value and whose it was.
  struct Refusal {
    std::string flag;
    size_t limit = 0;
    std::string scope;  // "user" or "tenant"
  };

  /// A lease for one more stream of `user` in `tenant` on `cluster`, or the limit it would pass.
  std::optional<Lease> tryAcquire(const std::string& cluster, const std::string& tenant,
                                  const std::string& user, bool long_lived, Refusal* why);

  /// Streams held now under a key (tests and diagnostics).
  size_t held(const std::string& cluster, const std::string& scope, const std::string& name,
              bool long_lived) const;

  const StreamQuotaLimits& limits() const { return limits_; }

 private:
  void release(const std::string& user_key, const std::string& tenant_key);
  static std::string key(const std::string& cluster, const std::string& scope,
                         const std::string& name, bool long_lived);

  const StreamQuotaLimits limits_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, size_t> held_;
};

}  // namespace kubehub::hub
