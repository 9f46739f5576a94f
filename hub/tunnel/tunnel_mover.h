#pragma once
/// Moves agents off this hub: all of them while it drains (an admin's `kubehubctl hub drain`,
/// read from the routing table, or SIGTERM), and a bounded few while it holds more than its
/// share of the fleet's tunnels (rebalancing after hubs were added). A move is the control
/// message `move`: the agent makes a tunnel to another hub first, then leaves this one
/// (agent/dialer/tunnel_client.cc), so its cluster stays reachable throughout. Moves are rate
/// limited, so a drain or a new replica never causes a reconnect storm.
///
/// The decisions are pure (planMoves) and tested apart; run() applies them every 200 ms on the
/// hub's main context. Thread-safe where noted.

#include <atomic>
#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "hub/peer/routing_table.h"

namespace kubehub::hub {

class TunnelRegistry;
class MetaserverSync;
class HubMetrics;

struct MoverOptions {
  std::string hub_id;
  /// Agents asked to move per second while draining.
  double drain_rate = 100;
  /// Agents asked to move per second while over the fleet's fair share (0: never).
  double rebalance_rate = 2;
  /// An agent asked but still here is asked again after this long (it may have had nowhere
  /// to go).
  std::chrono::seconds ask_again_after{15};
  /// A tunnel younger than this is not moved to rebalance (it may have just moved here).
  std::chrono::milliseconds settle{30000};
};

/// One tunnel held here, as the planner sees it.
struct HeldTunnel {
  std::string cluster;
  std::chrono::steady_clock::duration age{};
  /// Since this hub last asked it to move; nullopt: never.
  std::optional<std::chrono::steady_clock::duration> asked_ago;
  /// The hub that ask named as the only one to go to (rebalancing); empty: any.
  std::string asked_to;
};

struct MovePlan {
  /// Clusters to ask, in order.
  std::vector<std::string> clusters;
  /// Why, for the log and the message: "draining" or "rebalancing".
  std::string reason;
  /// Draining: where the agents should go first, the least loaded hubs that take agents (at
  /// most 16); an agent that knows none of them goes to any other hub.
  std::vector<std::string> to;
  /// Rebalancing: the one hub each cluster (same index) is asked to go to, and only there (a
  /// hub short of its share, chosen so that no hub is sent more than it lacks, counting the
  /// agents asked earlier and still on their way). Empty while draining.
  std::vector<std::string> only_to;
};

/// Which tunnels to ask to move now, and where. `draining`: this hub drains (itself or by an
/// admin); `budget`: how many moves the rate allows in this round; `routes`: the fleet's table
/// (which hubs take agents, how many tunnels each holds).
MovePlan planMoves(const std::vector<HeldTunnel>& held, bool draining, size_t budget,
                   const RoutingTable& routes, const MoverOptions& options);

class TunnelMover {
 public:
  TunnelMover(std::shared_ptr<TunnelRegistry> registry, std::shared_ptr<MetaserverSync> metaserver,
              MoverOptions options, std::shared_ptr<HubMetrics> metrics = nullptr);

  /// SIGTERM: drain before leaving. Thread-safe.
  void drainLocally() { local_drain_.store(true); }
  /// This hub drains now (locally or by an admin). Thread-safe.
  bool draining() const { return draining_.load(); }
  /// Other hubs could take this hub's agents (so a draining hub refuses new tunnels). Thread-safe.
  bool othersTakeAgents() const { return others_take_agents_.load(); }
  /// Agents asked to move so far. Thread-safe.
  uint64_t movesRequested() const { return moves_.load(); }

  /// Runs until cancelled (the context stops).
  static boost::asio::awaitable<void> run(std::shared_ptr<TunnelMover> self);

 private:
  void round(double seconds);

  std::shared_ptr<TunnelRegistry> registry_;
  std::shared_ptr<MetaserverSync> metaserver_;
  const MoverOptions options_;
  std::shared_ptr<HubMetrics> metrics_;
  std::atomic<bool> local_drain_{false};
  std::atomic<bool> draining_{false};
  std::atomic<bool> others_take_agents_{false};
  std::atomic<uint64_t> moves_{0};
  // Main context only.
  double credit_ = 0;
  bool was_draining_ = false;
  struct Asked {
    std::chrono::steady_clock::time_point when;
    std::string only_to;
  };
  std::map<std::string, Asked> asked_;  // by cluster
};

}  // namespace kubehub::hub
