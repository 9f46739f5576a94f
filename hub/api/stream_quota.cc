#include "hub/api/stream_quota.h"

namespace kubehub::hub {

std::string StreamQuota::key(const std::string& cluster, const std::string& scope,
                             const std::string& name, bool long_lived) {
  // NUL cannot occur in cluster names, user names from tokens or tenant names.
  std::string k;
  k.reserve(cluster.size() + scope.size() + name.size() + 5);
  k.append(cluster).push_back('\0');
  k.append(long_lived ? "L" : "S").push_back('\0');
  k.append(scope).push_back('\0');
  k.append(name);
  return k;
}

std::optional<StreamQuota::Lease> StreamQuota::tryAcquire(const std::string& cluster,
                                                          const std::string& tenant,
                                                          const std::string& user, bool long_lived,
                                                          Refusal* why) {
  size_t user_limit = long_lived ? limits_.long_lived_per_user : limits_.requests_per_user;
  size_t tenant_limit = long_lived ? limits_.long_lived_per_tenant : limits_.requests_per_tenant;
  std::string user_key = key(cluster, "user", user, long_lived);
  std::string tenant_key =
      tenant.empty() ? std::string() : key(cluster, "tenant", tenant, long_lived);
  std::lock_guard lock(mu_);
  auto count = [&](const std::string& k) {
    auto it = held_.find(k);
    return it == held_.end() ? size_t{0} : it->second;
  };
  if (user_limit > 0 && count(user_key) >= user_limit) {
    *why = {long_lived ? "--max-long-streams-per-user" : "--max-requests-per-user", user_limit,
            "user"};
    return std::nullopt;
  }
  if (!tenant_key.empty() && tenant_limit > 0 && count(tenant_key) >= tenant_limit) {
    *why = {long_lived ? "--max-long-streams-per-tenant" : "--max-requests-per-tenant",
            tenant_limit, "tenant"};
    return std::nullopt;
  }
  ++held_[user_key];
  if (!tenant_key.empty()) ++held_[tenant_key];
  Lease lease;
  lease.owner_ = shared_from_this();
  lease.user_key_ = std::move(user_key);
  lease.tenant_key_ = std::move(tenant_key);
  return lease;
}

void StreamQuota::release(const std::string& user_key, const std::string& tenant_key) {
  std::lock_guard lock(mu_);
  for (const std::string* k : {&user_key, &tenant_key}) {
    if (k->empty()) continue;
    auto it = held_.find(*k);
    if (it != held_.end() && --it->second == 0) held_.erase(it);
  }
}

size_t StreamQuota::held(const std::string& cluster, const std::string& scope,
                         const std::string& name, bool long_lived) const {
  std::lock_guard lock(mu_);
  auto it = held_.find(key(cluster, scope, name, long_lived));
  return it == held_.end() ? 0 : it->second;
}

StreamQuota::Lease& StreamQuota::Lease::operator=(Lease&& other) noexcept {
  if (this != &other) {
    if (owner_) owner_->release(user_key_, tenant_key_);
    owner_ = std::move(other.owner_);
    user_key_ = std::move(other.user_key_);
    tenant_key_ = std::move(other.tenant_key_);
  }
  return *this;
}

StreamQuota::Lease::~Lease() {
  if (owner_) owner_->release(user_key_, tenant_key_);
}

}  // namespace kubehub::hub
