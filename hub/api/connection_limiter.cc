#include "hub/api/connection_limiter.h"

namespace kubehub::hub {

ConnectionLimiter::ConnectionLimiter(size_t max_total, size_t max_per_client)
    : max_total_(max_total), max_per_client_(max_per_client) {}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::tryAcquire(const std::string& client,
                                                                     Refusal* why, bool* shed) {
  if (shed) *shed = false;
  std::function<void()> to_shed;
  uint64_t id = 0;
  {
    std::lock_guard lock(mu_);
    auto found = per_client_.find(client);
    if (max_per_client_ > 0 && found != per_client_.end() && found->second >= max_per_client_) {
      *why = Refusal::kPerClient;
      return std::nullopt;
    }
    if (max_total_ > 0 && open_ - shedding_ >= max_total_) {
      if (idle_.empty()) {
        *why = Refusal::kTotal;
        return std::nullopt;
      }
      auto oldest = idle_.begin();
      uint64_t victim = oldest->second.slot;
      to_shed = std::move(oldest->second.shed);
      idle_.erase(oldest);
      idle_seq_.erase(victim);
      shed_slots_.insert(victim);
      ++shedding_;
      ++shed_total_;
    }
    ++per_client_[client];
    ++open_;
    id = next_id_++;
  }
  // Outside the lock: the callback only posts the closing to the shed connection's executor.
  if (to_shed) {
    to_shed();
    if (shed) *shed = true;
  }
  *why = Refusal::kNone;
  return Slot(shared_from_this(), client, id);
}

void ConnectionLimiter::release(const std::string& client, uint64_t id) {
  std::function<void()> dropped;  // destroyed outside the lock
  std::lock_guard lock(mu_);
  --open_;
  if (shed_slots_.erase(id) > 0) --shedding_;
  if (auto it = idle_seq_.find(id); it != idle_seq_.end()) {
    auto entry = idle_.find(it->second);
    dropped = std::move(entry->second.shed);
    idle_.erase(entry);
    idle_seq_.erase(it);
  }
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

void ConnectionLimiter::markIdle(uint64_t id, std::function<void()> shed) {
  std::function<void()> replaced;
  std::lock_guard lock(mu_);
  if (shed_slots_.count(id) > 0) return;  // already being shed
  if (auto it = idle_seq_.find(id); it != idle_seq_.end()) {
    auto entry = idle_.find(it->second);
    replaced = std::move(entry->second.shed);
    idle_.erase(entry);
  }
  uint64_t seq = next_idle_seq_++;
  idle_.emplace(seq, Idle{id, std::move(shed)});
  idle_seq_[id] = seq;
}

void ConnectionLimiter::markBusy(uint64_t id) {
  std::function<void()> dropped;
  std::lock_guard lock(mu_);
  if (auto it = idle_seq_.find(id); it != idle_seq_.end()) {
    auto entry = idle_.find(it->second);
    dropped = std::move(entry->second.shed);
    idle_.erase(entry);
    idle_seq_.erase(it);
  }
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

size_t ConnectionLimiter::idle() const {
  std::lock_guard lock(mu_);
  return idle_.size();
}

uint64_t ConnectionLimiter::shedTotal() const {
  std::lock_guard lock(mu_);
  return shed_total_;
}

ConnectionLimiter::Slot::Slot(Slot&& other) noexcept
    : owner_(std::move(other.owner_)), client_(std::move(other.client_)), id_(other.id_) {}

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    client_ = std::move(other.client_);
    id_ = other.id_;
  }
  return *this;
}

ConnectionLimiter::Slot::~Slot() { release(); }

void ConnectionLimiter::Slot::markIdle(std::function<void()> shed) {
  if (owner_) owner_->markIdle(id_, std::move(shed));
}

void ConnectionLimiter::Slot::markBusy() {
  if (owner_) owner_->markBusy(id_);
}

void ConnectionLimiter::Slot::release() {
  if (owner_) owner_->release(client_, id_);
  owner_.reset();
}

}  // namespace kubehub::hub
