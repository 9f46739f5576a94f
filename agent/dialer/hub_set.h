#pragma once
/// Which hub each of the agent's tunnel slots dials next. The agent keeps tunnels to several
/// distinct hubs; a hub replaces an older tunnel of a cluster with a newer one, so two tunnels
/// of one agent to the same hub would knock each other down. HubSet knows the addresses
/// (bootstrap URLs, never forgotten, and those the fleet announced), the hub each slot holds,
/// and the hub each address led to, and picks addresses so that no slot reaches a hub another
/// one holds or may be reaching right now. Pure: no I/O, randomness passed in. Not thread-safe
/// (the agent calls it from its single io_context thread).

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "agent/dialer/hubs_message.h"

namespace kubehub::agent {

class HubSet {
 public:
  /// `bootstrap`: canonical tunnel URLs (see canonicalTunnelUrl), duplicates ignored.
  /// `slots`: how many tunnels the agent keeps at most.
  HubSet(std::vector<std::string> bootstrap, int slots);

  /// Replaces the addresses learned from the fleet (bootstrap URLs stay). Returns whether the
  /// set changed.
  bool setLearned(const std::vector<AnnouncedHub>& hubs);

  /// The address `slot` should dial next, which the slot is then dialing; nullopt when every
  /// known address leads to a hub another slot holds, or when another slot is reaching a hub
  /// not known in advance (its handshake must finish first: both could land on the same hub
  /// behind a load balancer). Preference: announced addresses of hubs nobody holds, then
  /// bootstrap URLs, then the hub or address this slot just lost; at random within a rank
  /// (`random` chooses).
  /// `avoid_hub`: never an address known to lead there (a hub that asked this agent to leave).
  /// `prefer`: hubs to try before any other (where a hub moving this agent suggests it goes:
  /// the least loaded). `only_preferred`: none but those (a rebalancing move: any other hub
  /// may be as loaded as the one asking); nullopt when none of them can be dialed now.
  std::optional<std::string> pick(int slot, uint64_t random, const std::string& avoid_hub = {},
                                  const std::vector<std::string>& prefer = {},
                                  bool only_preferred = false);

  /// `slot`'s handshake at the address it is dialing reached `hub_id`: it holds that hub now.
  /// Returns the slot that held it before, whose tunnel the hub has already replaced (the
  /// caller closes it; that slot holds nothing any more).
  std::optional<int> hold(int slot, const std::string& hub_id);

  /// Records that `url` led to `hub_id` without holding it (the hub's certificate named it).
  void noteSeen(const std::string& url, const std::string& hub_id);
  /// `hub_id` refuses a second tunnel of this agent rather than replace the first (WELCOME
  /// capability connections.v1): an address not known to lead there for certain (a load
  /// balancer's) may be dialed again while another slot holds it, last of all.
  void noteRefusesDuplicates(const std::string& hub_id) { refusers_.insert(hub_id); }

  /// `slot` stopped dialing or lost its tunnel: it holds nothing.
  void release(int slot);
  /// What `from` holds, `to` holds now (a tunnel moved: made through `from`, kept by `to`);
  /// `to`'s previous hub is remembered as the one it just left, `from` holds nothing.
  void transfer(int from, int to);

  /// Whether a slot other than `slot` is dialing (its handshake may change what `slot` can pick).
  bool othersDialing(int slot) const;
  /// The slot holding `hub_id`, if any.
  std::optional<int> holder(const std::string& hub_id) const;
  /// The hub `slot` holds ("" for none).
  const std::string& heldBy(int slot) const;
  int heldCount() const;
  /// Every known address: bootstrap URLs, then the learned ones not among them.
  std::vector<std::string> addresses() const;
  /// Distinct hubs known by id (learned or seen).
  size_t knownHubs() const;

 private:
  struct Slot {
    std::string dialing;   // the address being dialed, until hold() or release()
    std::string held;      // the hub id held
    std::string last_url;  // the address dialed last, avoided next time if possible
    std::string last_hub;  // the hub held or reached last, avoided next time if possible
  };
  /// The hub `url` leads to, if known, and whether that is certain: announced by the fleet and
  /// not contradicted by a handshake (a load balancer's URL leads anywhere).
  std::pair<std::string, bool> expected(const std::string& url) const;
  bool isBootstrap(const std::string& url) const;

  std::vector<std::string> bootstrap_;
  std::map<std::string, std::string> learned_;  // url → hub id
  std::map<std::string, std::string> seen_;     // url → hub id of the latest handshake there
  std::set<std::string> refusers_;              // hubs that refuse a second tunnel of ours
  std::vector<Slot> slots_;
};

}  // namespace kubehub::agent
