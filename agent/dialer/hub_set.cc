#include "agent/dialer/hub_set.h"

#include <algorithm>
#include <array>

namespace kubehub::agent {

HubSet::HubSet(std::vector<std::string> bootstrap, int slots) : slots_(std::max(slots, 1)) {
  for (auto& url : bootstrap) {
    if (!isBootstrap(url)) bootstrap_.push_back(std::move(url));
  }
}

bool HubSet::isBootstrap(const std::string& url) const {
  return std::find(bootstrap_.begin(), bootstrap_.end(), url) != bootstrap_.end();
}

bool HubSet::setLearned(const std::vector<AnnouncedHub>& hubs) {
  std::map<std::string, std::string> learned;
  for (const auto& h : hubs) learned.emplace(h.url, h.id);
  if (learned == learned_) return false;
  learned_ = std::move(learned);
  // What handshakes taught stays only for addresses still known, so it stays bounded.
  std::erase_if(seen_, [this](const auto& entry) {
    return !learned_.contains(entry.first) && !isBootstrap(entry.first);
  });
  return true;
}

std::pair<std::string, bool> HubSet::expected(const std::string& url) const {
  auto learned = learned_.find(url);
  auto seen = seen_.find(url);
  if (learned != learned_.end()) {
    if (seen == seen_.end() || seen->second == learned->second) return {learned->second, true};
    return {seen->second, false};
  }
  if (seen != seen_.end()) return {seen->second, false};
  return {"", false};
}

std::optional<std::string> HubSet::pick(int slot, uint64_t random, const std::string& avoid_hub,
                                        const std::vector<std::string>& prefer,
                                        bool only_preferred) {
  release(slot);
  Slot& me = slots_[static_cast<size_t>(slot)];
  std::set<std::string> busy_urls;
  std::set<std::string> busy_hubs;
  bool other_dialing = false;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (static_cast<int>(i) == slot) continue;
    const Slot& other = slots_[i];
    if (!other.held.empty()) busy_hubs.insert(other.held);
    if (other.dialing.empty()) continue;
    auto [hub, certain] = expected(other.dialing);
    // Where that handshake lands is unknown until it finishes: this one could land there too.
    if (!certain) return std::nullopt;
    other_dialing = true;
    busy_urls.insert(other.dialing);
    busy_hubs.insert(hub);
  }
  // Rank 0: suggested; 1: announced, not just lost; 2: bootstrap only, not just lost; 3 and 4:
  // just lost; 5: an address that led to a hub another slot holds, not for certain (a load
  // balancer may send this one elsewhere), when that hub refuses rather than replaces.
  std::array<std::vector<std::string>, 6> ranked;
  for (const std::string& url : addresses()) {
    if (busy_urls.contains(url)) continue;
    auto [hub, certain] = expected(url);
    if (!hub.empty() && hub == avoid_hub) continue;
    if (!hub.empty() && busy_hubs.contains(hub)) {
      if (!certain && !other_dialing && refusers_.contains(hub)) ranked[5].push_back(url);
      continue;
    }
    if (!certain && other_dialing) continue;
    bool lost = url == me.last_url || (!hub.empty() && hub == me.last_hub);
    bool suggested = certain && std::find(prefer.begin(), prefer.end(), hub) != prefer.end();
    size_t rank = suggested ? 0 : 1 + (lost ? 2 : 0) + (learned_.contains(url) ? 0 : 1);
    ranked[rank].push_back(url);
  }
  for (auto& candidates : ranked) {
    if (only_preferred && &candidates != &ranked[0]) break;
    if (candidates.empty()) continue;
    std::string url = candidates[random % candidates.size()];
    me.dialing = url;
    me.last_url = url;
    me.last_hub = expected(url).first;
    return url;
  }
  return std::nullopt;
}

std::optional<int> HubSet::hold(int slot, const std::string& hub_id) {
  Slot& me = slots_[static_cast<size_t>(slot)];
  if (!me.dialing.empty()) noteSeen(me.dialing, hub_id);
  me.dialing.clear();
  me.held = hub_id;
  me.last_hub = hub_id;
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (static_cast<int>(i) == slot || slots_[i].held != hub_id) continue;
    slots_[i].held.clear();
    slots_[i].last_hub = hub_id;
    return static_cast<int>(i);
  }
  return std::nullopt;
}

void HubSet::noteSeen(const std::string& url, const std::string& hub_id) {
  if (learned_.contains(url) || isBootstrap(url)) seen_[url] = hub_id;
}

void HubSet::release(int slot) {
  Slot& me = slots_[static_cast<size_t>(slot)];
  me.dialing.clear();
  if (!me.held.empty()) me.last_hub = std::move(me.held);
  me.held.clear();
}

void HubSet::transfer(int from, int to) {
  Slot& src = slots_[static_cast<size_t>(from)];
  Slot& dst = slots_[static_cast<size_t>(to)];
  if (!dst.held.empty()) dst.last_hub = dst.held;
  dst.held = std::move(src.held);
  dst.dialing.clear();
  dst.last_url = src.last_url;
  src.held.clear();
  src.dialing.clear();
}

bool HubSet::othersDialing(int slot) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (static_cast<int>(i) != slot && !slots_[i].dialing.empty()) return true;
  }
  return false;
}

std::optional<int> HubSet::holder(const std::string& hub_id) const {
  for (size_t i = 0; i < slots_.size(); ++i) {
    if (!hub_id.empty() && slots_[i].held == hub_id) return static_cast<int>(i);
  }
  return std::nullopt;
}

const std::string& HubSet::heldBy(int slot) const { return slots_[static_cast<size_t>(slot)].held; }

int HubSet::heldCount() const {
  return static_cast<int>(
      std::count_if(slots_.begin(), slots_.end(), [](const Slot& s) { return !s.held.empty(); }));
}

std::vector<std::string> HubSet::addresses() const {
  std::vector<std::string> out = bootstrap_;
  for (const auto& [url, hub] : learned_) {
    if (!isBootstrap(url)) out.push_back(url);
  }
  return out;
}

size_t HubSet::knownHubs() const {
  std::set<std::string> ids;
  for (const auto& [url, hub] : learned_) ids.insert(hub);
  for (const auto& [url, hub] : seen_) ids.insert(hub);
  return ids.size();
}

}  // namespace kubehub::agent
