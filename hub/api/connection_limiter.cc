#include "hub/api/connection_limiter.h"

namespace kubehub::hub {

ConnectionLimiter::ConnectionLimiter(size_t max_total, size_t max_per_client)
    : max_total_(max_total), max_per_client_(max_per_client) {}

std::optional<ConnectionLimiter::Slot> ConnectionLimiter::tryAcquire(const std::string& client,
                                                                     Refusal* why) {
  std::lock_guard lock(mu_);
  if (max_total_ > 0 && open_ >= max_total_) {
    *why = Refusal::kTotal;
    return std::nullopt;
  }
  size_t& mine = per_client_[client];
  if (max_per_client_ > 0 && mine >= max_per_client_) {
    *why = Refusal::kPerClient;
    return std::nullopt;
  }
  ++mine;
  ++open_;
  *why = Refusal::kNone;
  return Slot(shared_from_this(), client);
}

void ConnectionLimiter::release(const std::string& client) {
  std::lock_guard lock(mu_);
  --open_;
  auto it = per_client_.find(client);
  if (it != per_client_.end() && --it->second == 0) per_client_.erase(it);
}

size_t ConnectionLimiter::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

ConnectionLimiter::Slot::Slot(Slot&& other) noexcept
    : owner_(std::move(other.owner_)), client_(std::move(other.client_)) {}

ConnectionLimiter::Slot& ConnectionLimiter::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    release();
    owner_ = std::move(other.owner_);
    client_ = std::move(other.client_);
  }
  return *this;
}

ConnectionLimiter::Slot::~Slot() { release(); }

void ConnectionLimiter::Slot::release() {
  if (owner_) owner_->release(client_);
  owner_.reset();
}

}  // namespace kubehub::hub
