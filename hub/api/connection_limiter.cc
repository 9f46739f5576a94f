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
      uint64_t victim = idle_.front().slot;
      to_shed = std::move(idle_.front().shed);
      idle_.pop_front();
      entries_.erase(victim);
      shed_slots_.insert(victim);
      ++shedding_;
      ++shed_total_;
    }
    ++per_client_[client];
    ++open_;
    id = next_id_++;
    busy_.push_back(Entry{id, {}, false});
    entries_[id] = std::prev(busy_.end());
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
  if (auto it = entries_.find(id); it != entries_.end()) {
    Entries& list = it->second->idle ? idle_ : busy_;
    dropped = std::move(it->second->shed);
    list.erase(it->second);
    entries_.erase(it);
  }
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

void ConnectionLimiter::onShed(uint64_t id, std::function<void()> shed) {
  std::function<void()> replaced;
  std::lock_guard lock(mu_);
  if (auto it = entries_.find(id); it != entries_.end()) {
    replaced = std::move(it->second->shed);
    it->second->shed = std::move(shed);
  }
}

void ConnectionLimiter::mark(uint64_t id, bool idle) {
  std::lock_guard lock(mu_);
  auto it = entries_.find(id);
  if (it == entries_.end()) return;  // being shed
  Entries& from = it->second->idle ? idle_ : busy_;
  // The newest idle goes last, shed last.
  (idle ? idle_ : busy_).splice(idle ? idle_.end() : busy_.end(), from, it->second);
  it->second->idle = idle;
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

void ConnectionLimiter::Slot::onShed(std::function<void()> shed) {
  if (owner_) owner_->onShed(id_, std::move(shed));
}

void ConnectionLimiter::Slot::markIdle() {
  if (owner_) owner_->mark(id_, true);
}

void ConnectionLimiter::Slot::markBusy() {
  if (owner_) owner_->mark(id_, false);
}

void ConnectionLimiter::Slot::release() {
  if (owner_) owner_->release(client_, id_);
  owner_.reset();
}

}  // namespace kubehub::hub
