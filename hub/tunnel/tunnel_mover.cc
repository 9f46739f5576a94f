#include "hub/tunnel/tunnel_mover.h"

#include <algorithm>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cmath>

#include "common/log/log.h"
#include "hub/auth/metaserver_sync.h"
#include "hub/metrics/hub_metrics.h"
#include "hub/tunnel/tunnel_registry.h"
#include "proto/control.h"

namespace kubehub::hub {

namespace asio = boost::asio;

namespace {
/// Whether the routing table names `hub` among those holding `cluster`'s tunnels.
bool routeHolds(const RoutingTable& routes, const std::string& cluster, const std::string& hub) {
  auto route = routes.clusters.find(cluster);
  return route != routes.clusters.end() &&
         std::find(route->second.begin(), route->second.end(), hub) != route->second.end();
}
}  // namespace

MovePlan planMoves(const std::vector<HeldTunnel>& held, bool draining, size_t budget,
                   const RoutingTable& routes, const MoverOptions& options) {
  MovePlan plan;
  if (budget == 0 || held.empty()) return plan;
  // Hubs that take agents: live, peering (an agent anywhere reaches its users), not draining.
  std::map<std::string, size_t> load;
  for (const auto& [id, h] : routes.hubs) {
    if (!h.peer.empty() && !h.draining && !h.tunnel.empty()) load[id] = 0;
  }
  bool others = std::any_of(load.begin(), load.end(),
                            [&](const auto& e) { return e.first != options.hub_id; });
  if (!others) return plan;  // nowhere to go: stay

  auto eligible = [&](const HeldTunnel& t, std::chrono::steady_clock::duration again) {
    return !t.asked_ago || *t.asked_ago >= again;
  };
  std::vector<const HeldTunnel*> order;
  for (const auto& t : held) order.push_back(&t);
  // Oldest tunnels first: the newest may have just arrived from another hub.
  std::stable_sort(order.begin(), order.end(),
                   [](const HeldTunnel* a, const HeldTunnel* b) { return a->age > b->age; });

  for (const auto& [cluster, hubs] : routes.clusters) {
    for (const auto& h : hubs) {
      if (auto it = load.find(h); it != load.end()) ++it->second;
    }
  }
  std::vector<std::pair<size_t, std::string>> by_load;
  for (const auto& [id, n] : load) {
    if (id != options.hub_id) by_load.emplace_back(n, id);
  }
  std::sort(by_load.begin(), by_load.end());

  auto again = draining ? options.ask_again_after : options.ask_again_after * 4;
  // Agents asked lately are still moving (the new tunnel first, then the old one closes):
  // they count against what is wanted, or a hub would ask far more than its excess.
  size_t pending = static_cast<size_t>(std::count_if(
      held.begin(), held.end(), [&](const HeldTunnel& t) { return !eligible(t, again); }));

  if (draining) {
    plan.reason = "draining";
    size_t wanted = held.size() > pending ? held.size() - pending : 0;
    // Suggest the least loaded hubs: those tied with the lightest, so moves of one round spread.
    for (const auto& [n, id] : by_load) {
      if (plan.to.size() >= 16 || n > by_load.front().first + 1) break;
      plan.to.push_back(id);
    }
    for (const HeldTunnel* t : order) {
      if (plan.clusters.size() >= std::min(wanted, budget)) break;
      if (!eligible(*t, again)) continue;
      plan.clusters.push_back(t->cluster);
    }
    return plan;
  }

  if (options.rebalance_rate <= 0 || !load.contains(options.hub_id)) return plan;
  plan.reason = "rebalancing";
  size_t total = 0;
  for (const auto& [id, n] : load) total += n;
  total = std::max(total, held.size());
  const size_t fair = (total + load.size() - 1) / load.size();
  const size_t slack = std::max<size_t>(1, fair / 10);
  // An agent asked lately and still here is on its way to the hub it was sent to: count it
  // there until the routing table names it there, so that later rounds (and the routing table's
  // lag) never send a hub more than it lacks.
  for (const auto& t : held) {
    if (eligible(t, again) || t.asked_to.empty()) continue;
    auto it = load.find(t.asked_to);
    if (it == load.end()) continue;
    if (!routeHolds(routes, t.cluster, t.asked_to)) ++it->second;
  }
  // Only while another hub is short by more than the slack (so shares within the slack of each
  // other never trade agents back and forth), and only down to the fair share.
  bool someone_short = std::any_of(load.begin(), load.end(), [&](const auto& e) {
    return e.first != options.hub_id && e.second + slack < fair;
  });
  if (!someone_short || held.size() <= fair + pending) return plan;
  size_t wanted = held.size() - fair - pending;
  // Each agent to the hub lacking most (a hub at or over the share is never a destination:
  // sent there, the agent would only be sent on again).
  std::map<std::string, size_t> lack;
  for (const auto& [id, n] : load) {
    if (id != options.hub_id && n < fair) lack[id] = fair - n;
  }
  for (const HeldTunnel* t : order) {
    if (plan.clusters.size() >= std::min(wanted, budget)) break;
    if (t->age < options.settle || !eligible(*t, again)) continue;
    // Never a hub that holds another tunnel of this cluster (an agent with several).
    auto best = lack.end();
    bool any_lack = false;
    for (auto it = lack.begin(); it != lack.end(); ++it) {
      if (it->second == 0) continue;
      any_lack = true;
      if (!routeHolds(routes, t->cluster, it->first) &&
          (best == lack.end() || it->second > best->second)) {
        best = it;
      }
    }
    if (!any_lack) break;
    if (best == lack.end()) continue;
    --best->second;
    plan.clusters.push_back(t->cluster);
    plan.only_to.push_back(best->first);
  }
  return plan;
}

TunnelMover::TunnelMover(std::shared_ptr<TunnelRegistry> registry,
                         std::shared_ptr<MetaserverSync> metaserver, MoverOptions options,
                         std::shared_ptr<HubMetrics> metrics)
    : registry_(std::move(registry)),
      metaserver_(std::move(metaserver)),
      options_(std::move(options)),
      metrics_(std::move(metrics)) {}

void TunnelMover::round(double seconds) {
  auto routes = metaserver_ ? metaserver_->routes() : std::make_shared<const RoutingTable>();
  bool admin_drain = false;
  if (auto self = routes->hubs.find(options_.hub_id); self != routes->hubs.end())
    admin_drain = self->second.draining;
  bool draining = local_drain_.load() || admin_drain;
  draining_.store(draining);
  bool others = false;
  for (const auto& [id, h] : routes->hubs) {
    if (id != options_.hub_id && !h.draining && !h.peer.empty() && !h.tunnel.empty()) others = true;
  }
  others_take_agents_.store(others);
  if (draining != was_draining_) {
    log::info(
        draining ? "hub draining: asking its agents to move to other hubs" : "hub back in service",
        {{"hub_id", options_.hub_id},
         {"by", local_drain_.load() ? "shutdown" : "admin"},
         {"tunnels", registry_->size()},
         {"other_hubs_take_agents", others ? "true" : "false"}});
    was_draining_ = draining;
    if (!draining) asked_.clear();
  }

  double rate = draining ? options_.drain_rate : options_.rebalance_rate;
  credit_ = std::min(credit_ + rate * seconds, std::max(1.0, rate));
  auto budget = static_cast<size_t>(std::floor(credit_));
  if (budget == 0) return;

  auto now = std::chrono::steady_clock::now();
  auto system_now = std::chrono::system_clock::now();
  std::vector<HeldTunnel> held;
  auto tunnels = registry_->snapshot();
  for (const auto& t : tunnels) {
    HeldTunnel h;
    h.cluster = t.cluster;
    h.age = std::chrono::duration_cast<std::chrono::steady_clock::duration>(system_now -
                                                                            t.connected_at);
    if (auto it = asked_.find(t.cluster); it != asked_.end()) {
      h.asked_ago = now - it->second.when;
      h.asked_to = it->second.only_to;
    }
    held.push_back(std::move(h));
  }
  // Forget clusters that left.
  std::erase_if(asked_, [&](const auto& e) {
    return std::none_of(tunnels.begin(), tunnels.end(),
                        [&](const ClusterTunnel& t) { return t.cluster == e.first; });
  });
  MovePlan plan = planMoves(held, draining, budget, *routes, options_);
  if (plan.clusters.empty()) return;
  credit_ -= static_cast<double>(plan.clusters.size());
  proto::Move move;
  move.reason = "hub " + options_.hub_id + " " + plan.reason;
  move.to = plan.to;
  std::string message = proto::encodeMove(move);
  std::string asked;
  for (size_t i = 0; i < plan.clusters.size(); ++i) {
    const std::string& cluster = plan.clusters[i];
    auto mux = registry_->find(cluster);
    if (!mux) continue;
    std::string only_to = i < plan.only_to.size() ? plan.only_to[i] : std::string();
    if (only_to.empty()) {
      mux->sendControl(message);
    } else {
      proto::Move one{move.reason, {only_to}, true};
      mux->sendControl(proto::encodeMove(one));
    }
    asked_[cluster] = Asked{now, only_to};
    moves_.fetch_add(1);
    if (asked.size() < 1024) {
      if (!asked.empty()) asked += ' ';
      asked += only_to.empty() ? cluster : cluster + "->" + only_to;
    }
  }
  if (metrics_) metrics_->agentMovesRequested(plan.reason, plan.clusters.size());
  std::string to;
  for (const auto& id : plan.to) to += (to.empty() ? "" : " ") + id;
  log::info("asked agents to move", {{"hub_id", options_.hub_id},
                                     {"reason", plan.reason},
                                     {"agents", plan.clusters.size()},
                                     {"tunnels", tunnels.size()},
                                     {"asked", asked},
                                     {"suggested", to}});
}

asio::awaitable<void> TunnelMover::run(std::shared_ptr<TunnelMover> self) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  auto last = std::chrono::steady_clock::now();
  for (;;) {
    timer.expires_after(std::chrono::milliseconds(200));
    auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
    if (ec) co_return;
    auto now = std::chrono::steady_clock::now();
    self->round(std::chrono::duration<double>(now - last).count());
    last = now;
  }
}

}  // namespace kubehub::hub
