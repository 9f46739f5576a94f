#include "hub/auth/metaserver_sync.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <iterator>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "common/auth/tunnel_identity.h"
#include "common/log/log.h"

namespace kubehub::hub {

namespace {

using Json = nlohmann::json;

/// A failed call as the logs and /readyz say it: "GET /api/v1/grants: HTTP 503 MESSAGE" for
/// the metaserver's refusals, the reason alone when it was not reached.
std::string describe(std::string_view what, const absl::Status& s) {
  int http = metaserver::httpStatusOf(s);
  if (http == 0) return std::string(s.message());
  return std::string(what) + ": HTTP " + std::to_string(http) + " " + std::string(s.message());
}

}  // namespace

absl::Status checkHubIdentity(const metaserver::Whoami& whoami, std::string_view hub_id) {
  if (whoami.admin) return absl::OkStatus();
  std::string user = !whoami.user.empty() ? whoami.user : whoami.actor;
  if (user.empty()) user = "?";
  if (!whoami.hub) {
    return absl::FailedPreconditionError(
        "the metaserver token's user \"" + user +
        "\" has neither the hub nor the admin role (kubehubctl user create NAME --roles hub)");
  }
  if (!auth::hubUserActsFor(user, hub_id)) {
    return absl::FailedPreconditionError(
        "the metaserver token belongs to user \"" + user + "\" but --hub-id is \"" +
        std::string(hub_id) +
        "\": a hub's token acts only for the hub named like its user or for the fleet's hubs "
        "named USER-* (start the hub with --hub-id " +
        user + " or " + user + "-SUFFIX, or give it a token of a user named " +
        std::string(hub_id) + ")");
  }
  return absl::OkStatus();
}

MetaserverSync::MetaserverSync(MetaserverSyncOptions options) : options_(std::move(options)) {
  auto s = std::make_shared<AuthSnapshot>();
  s->keys = std::make_shared<auth::KeySet>();
  s->revoked = std::make_shared<std::unordered_map<std::string, int64_t>>();
  s->grants = std::make_shared<std::unordered_map<std::string, std::vector<auth::Grant>>>();
  s->clusters = std::make_shared<std::unordered_map<std::string, ClusterRecord>>();
  s->banned_users = std::make_shared<std::unordered_set<std::string>>();
  s->banned_tenants = std::make_shared<std::unordered_set<std::string>>();
  snapshot_ = s;
  routes_ = std::make_shared<const RoutingTable>();
}

MetaserverSync::~MetaserverSync() { stop(); }

void MetaserverSync::start() {
  thread_ = std::thread([this] { run(); });
  if (options_.change_wait.count() > 0) {
    watch_thread_ = std::thread(watchChanges, options_, signal_);
  }
}

void MetaserverSync::stop() {
  if (stopping_.exchange(true)) return;
  std::shared_ptr<metaserver::MetaserverClient> polling;
  {
    std::lock_guard lock(signal_->mu);
    signal_->stopping = true;
    polling = signal_->client;
  }
  signal_->cv.notify_all();
  if (polling) polling->cancel();
  if (thread_.joinable()) thread_.join();
  if (watch_thread_.joinable()) watch_thread_.join();
}

std::shared_ptr<const AuthSnapshot> MetaserverSync::snapshot() const {
  std::lock_guard lock(snapshot_mu_);
  return snapshot_;
}

bool MetaserverSync::ready() const {
  auto s = snapshot();
  return s->keys_loaded && s->grants_loaded && s->clusters_loaded;
}

std::string MetaserverSync::health() const {
  std::lock_guard lock(health_mu_);
  return health_;
}

void MetaserverSync::clusterConnected(const std::string& cluster) {
  queueRegistryEvent(cluster, true);
}

void MetaserverSync::clusterDisconnected(const std::string& cluster) {
  queueRegistryEvent(cluster, false);
}

bool MetaserverSync::pendingLocked(const std::string& cluster) const {
  return std::any_of(events_.begin(), events_.end(),
                     [&](const auto& e) { return e.first == cluster; });
}

size_t MetaserverSync::pendingRegistryEvents() const {
  std::lock_guard lock(events_mu_);
  return events_.size();
}

void MetaserverSync::queueRegistryEvent(const std::string& cluster, bool connected) {
  {
    std::lock_guard lock(events_mu_);
    // Only a cluster's latest state is told: an agent that reconnects in a loop while the
    // metaserver is down leaves one event, not one per tunnel (the queue is bounded by the
    // clusters this hub has served).
    std::erase_if(events_, [&](const auto& e) { return e.first == cluster; });
    events_.emplace_back(cluster, connected);
  }
  wake();
}

void MetaserverSync::reportClusterStatus(const std::string& cluster, nlohmann::json report) {
  bool first = false;
  {
    std::lock_guard lock(status_mu_);
    first = status_pending_.empty();
    status_pending_[cluster] = std::move(report);
  }
  if (first) wake();
}

void MetaserverSync::wake() {
  std::lock_guard lock(signal_->mu);
  signal_->woken = true;
  signal_->cv.notify_all();
}

void MetaserverSync::wantRoutes() {
  want_routes_ = true;
  wake();
}

double MetaserverSync::routesAgeSeconds() const {
  int64_t at = routes_checked_at_ms_.load();
  if (at == 0) return -1;
  int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  return static_cast<double>(now - at) / 1000.0;
}

std::shared_ptr<const RoutingTable> MetaserverSync::routes() const {
  std::lock_guard lock(snapshot_mu_);
  return routes_;
}

void MetaserverSync::publish(const std::function<void(AuthSnapshot&)>& change) {
  std::lock_guard lock(snapshot_mu_);
  auto next = std::make_shared<AuthSnapshot>(*snapshot_);
  change(*next);
  snapshot_ = std::move(next);
}

void MetaserverSync::noteResult(bool ok, const std::string& what) {
  std::lock_guard lock(health_mu_);
  if (ok) {
    if (!was_healthy_) log::info("metaserver reachable", {{"url", options_.url}});
    was_healthy_ = true;
    health_ = "ok";
    return;
  }
  if (was_healthy_ || health_ == "not contacted yet") {
    log::warn("metaserver unreachable: serving with the tokens, grants and keys already known",
              {{"url", options_.url}, {"error", what}});
  }
  was_healthy_ = false;
  health_ = "metaserver unreachable (" + what + "); serving with the last known credentials";
}

absl::StatusOr<metaserver::MetaserverClient*> MetaserverSync::client() {
  if (!client_) {
    metaserver::MetaserverClientOptions co;
    co.url = options_.url;
    co.token = options_.token;
    co.token_source = options_.token_source;
    co.tls = options_.tls;
    co.timeout = options_.request_timeout;
    auto c = metaserver::MetaserverClient::create(std::move(co));
    if (!c.ok()) return c.status();
    client_ = std::move(*c);
  }
  return client_.get();
}

absl::Status MetaserverSync::checkIdentity() {
  auto c = client();
  if (!c.ok()) return absl::UnavailableError(c.status().message());
  auto whoami = (*c)->whoami();
  if (!whoami.ok()) {
    return absl::UnavailableError(describe("GET /api/v1/whoami", whoami.status()));
  }
  identity_checked_ = true;
  return checkHubIdentity(*whoami, options_.hub_id);
}

bool MetaserverSync::syncKeys() {
  auto c = client();
  absl::StatusOr<Json> j = c.ok() ? (*c)->signingKeys() : c.status();
  if (!j.ok()) {
    noteResult(false, describe("GET /api/v1/signing-keys", j.status()));
    return false;
  }
  auto keys = auth::KeySet::fromJwks(*j);
  if (!keys.ok()) {
    noteResult(false, "signing keys: " + std::string(keys.status().message()));
    return false;
  }
  auto shared = std::make_shared<auth::KeySet>(std::move(*keys));
  publish([&](AuthSnapshot& s) {
    s.keys = shared;
    s.keys_loaded = true;
  });
  return true;
}

bool MetaserverSync::syncRevocations() {
  // Page after page while the metaserver says more follows (a user with thousands of tokens
  // deleted at once, a hub starting on a long feed), all applied together: a page per poll would
  // leave the later revocations unheeded for tens of seconds. Bounded per pass; the next pass
  // goes on from the cursor.
  constexpr int kMaxPagesPerPass = 100;
  std::vector<metaserver::RevocationRecord> items;
  int64_t cursor = revocation_cursor_;
  bool failed = false;
  for (int page = 0; page < kMaxPagesPerPass; ++page) {
    auto c = client();
    absl::StatusOr<metaserver::RevocationsAnswer> answer =
        c.ok() ? (*c)->revocations(cursor) : c.status();
    if (!answer.ok()) {
      noteResult(false, describe("GET /api/v1/revocations", answer.status()));
      if (items.empty()) return false;
      failed = true;  // what was read is applied; the rest next pass
      break;
    }
    std::move(answer->page.items.begin(), answer->page.items.end(), std::back_inserter(items));
    cursor = answer->page.cursor;
    if (!answer->page.more) break;
  }
  int64_t now = std::time(nullptr);
  auto current = snapshot()->revoked;
  bool changed = !items.empty();
  bool expired = false;
  for (const auto& [jti, exp] : *current) {
    if (exp > 0 && exp < now - 60) expired = true;
  }
  if (changed || expired) {
    auto next = std::make_shared<std::unordered_map<std::string, int64_t>>();
    for (const auto& [jti, exp] : *current) {
      if (exp == 0 || exp >= now - 60) next->emplace(jti, exp);
    }
    for (const auto& it : items) next->insert_or_assign(it.token_id, it.expires_at);
    publish([&](AuthSnapshot& s) { s.revoked = next; });
    if (!items.empty())
      log::info("revocations applied", {{"count", items.size()}, {"cursor", cursor}});
  }
  revocation_cursor_ = cursor;
  if (failed) return false;
  noteResult(true, "");
  return true;
}

// A list with an entry that does not decode is refused whole and the last good one kept: an
// entry read in part could allow more than was meant (a grant whose user is not a string read
// as one for every user of the tenant, a cluster whose "disabled" is not a boolean as enabled).
bool MetaserverSync::syncGrants() {
  auto c = client();
  absl::StatusOr<std::vector<metaserver::GrantRecord>> grants =
      c.ok() ? (*c)->grants() : c.status();
  if (!grants.ok()) {
    noteResult(false, describe("GET /api/v1/grants", grants.status()));
    return false;
  }
  auto by_tenant = std::make_shared<std::unordered_map<std::string, std::vector<auth::Grant>>>();
  for (auto& g : *grants) (*by_tenant)[g.grant.tenant].push_back(std::move(g.grant));
  publish([&](AuthSnapshot& s) {
    s.grants = by_tenant;
    s.grants_loaded = true;
  });
  return true;
}

bool MetaserverSync::syncClusters() {
  auto c = client();
  absl::StatusOr<std::vector<metaserver::ClusterRecord>> list =
      c.ok() ? (*c)->clusters() : c.status();
  if (!list.ok()) {
    noteResult(false, describe("GET /api/v1/clusters", list.status()));
    return false;
  }
  auto clusters = std::make_shared<std::unordered_map<std::string, ClusterRecord>>();
  for (auto& cluster : *list) {
    ClusterRecord r;
    r.labels = std::move(cluster.labels);
    r.disabled = cluster.disabled;
    clusters->emplace(std::move(cluster.name), std::move(r));
  }
  publish([&](AuthSnapshot& s) {
    s.clusters = clusters;
    s.clusters_loaded = true;
  });
  return true;
}

bool MetaserverSync::syncBans() {
  auto now = std::chrono::steady_clock::now();
  if (!bans_supported_ && now < bans_retry_at_) return true;
  auto c = client();
  absl::StatusOr<metaserver::BansAnswer> answer = c.ok() ? (*c)->bans() : c.status();
  if (!answer.ok()) {
    if (metaserver::httpStatusOf(answer.status()) == 404) {
      // An older metaserver (or replica, during a rolling upgrade): ask again in a minute.
      if (bans_supported_) {
        log::warn(
            "the metaserver publishes no bans; user and tenant bans are not enforced until it "
            "does");
      }
      bans_supported_ = false;
      bans_retry_at_ = now + std::chrono::minutes(1);
      return true;
    }
    noteResult(false, describe("GET /api/v1/bans", answer.status()));
    return false;
  }
  auto users = std::make_shared<std::unordered_set<std::string>>();
  auto tenants = std::make_shared<std::unordered_set<std::string>>();
  bans_supported_ = true;
  for (const auto& e : answer->bans.users) users->insert(e.name);
  for (const auto& e : answer->bans.tenants) tenants->insert(e.name);
  auto current = snapshot();
  if (*users != *current->banned_users || *tenants != *current->banned_tenants) {
    publish([&](AuthSnapshot& s) {
      s.banned_users = users;
      s.banned_tenants = tenants;
    });
    log::info("bans updated", {{"users", users->size()}, {"tenants", tenants->size()}});
  }
  return true;
}

bool MetaserverSync::syncRoutes() {
  auto now = std::chrono::steady_clock::now();
  if (!routes_supported_ && now < routes_retry_at_) return true;
  auto c = client();
  absl::StatusOr<metaserver::Conditional<Json>> j =
      c.ok() ? (*c)->routesAnswer(routes_etag_) : c.status();
  if (!j.ok()) {
    if (metaserver::httpStatusOf(j.status()) == 404) {
      if (routes_supported_) {
        log::warn(
            "the metaserver publishes no routing table; requests for clusters whose tunnel "
            "is on another hub get 503 until it does");
      }
      routes_supported_ = false;
      routes_retry_at_ = now + std::chrono::minutes(1);
      return true;
    }
    noteResult(false, describe("GET /api/v1/routes", j.status()));
    return false;
  }
  routes_supported_ = true;
  routes_checked_at_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now().time_since_epoch())
                                  .count());
  if (j->not_modified) return true;
  // Lenient per entry (peer/routing_table.h): one odd entry never empties the routes.
  auto table = parseRoutingTable(j->value);
  if (!table.ok()) {
    log::warn("ignoring a routing table that does not parse",
              {{"error", table.status().message()}});
    return false;
  }
  routes_etag_ = j->etag;
  auto next = std::make_shared<const RoutingTable>(std::move(*table));
  {
    std::lock_guard lock(snapshot_mu_);
    if (routes_ && *routes_ == *next) return true;
    routes_ = next;
  }
  routes_version_.fetch_add(1);
  log::debug("routing table updated",
             {{"hubs", next->hubs.size()}, {"clusters", next->clusters.size()}});
  return true;
}

bool MetaserverSync::heartbeat() {
  metaserver::HubHeartbeat beat;
  beat.addresses = {{"users", users_address_}, {"tunnel", tunnel_address_}};
  if (!peer_address_.empty()) beat.addresses.emplace("peer", peer_address_);
  beat.instance = instance_;
  beat.agents = static_cast<int64_t>(agents_.load());
  beat.version = options_.version;
  auto c = client();
  absl::Status s = c.ok() ? (*c)->heartbeat(options_.hub_id, beat) : c.status();
  if (!s.ok()) {
    noteResult(false, describe("PUT /api/v1/hubs/" + options_.hub_id, s));
    return false;
  }
  return true;
}

void MetaserverSync::flushRegistryEvents() {
  std::deque<std::pair<std::string, bool>> events;
  {
    std::lock_guard lock(events_mu_);
    events.swap(events_);
  }
  while (!events.empty()) {
    auto [cluster, connected] = events.front();
    auto c = client();
    absl::Status r = !c.ok()     ? c.status()
                     : connected ? (*c)->clusterConnected(cluster, options_.hub_id)
                                 : (*c)->clusterDisconnected(cluster, options_.hub_id);
    if (!r.ok() && metaserver::httpStatusOf(r) == 0) {
      // Unreachable: keep the events for later, in order, except where a cluster has a newer one.
      std::lock_guard lock(events_mu_);
      for (auto it = events.rbegin(); it != events.rend(); ++it) {
        if (!pendingLocked(it->first)) events_.push_front(*it);
      }
      noteResult(false, std::string(r.message()));
      return;
    }
    if (!r.ok()) {
      log::warn("registry update refused", {{"cluster", cluster}, {"error", r.message()}});
    }
    if (connected) {
      held_.insert(cluster);
    } else {
      held_.erase(cluster);
    }
    events.pop_front();
  }
}

void MetaserverSync::flushStatusReports() {
  // Bounded batches: a hub holding many agents sends a few requests, not one per cluster, each
  // well under the metaserver's body limit (1 MiB by default) though a report listing many
  // cached types weighs tens of KiB.
  constexpr size_t kBatch = 500;
  constexpr size_t kBatchBytes = 512 * 1024;
  constexpr std::chrono::seconds kEvery{1};
  auto now = std::chrono::steady_clock::now();
  if (now - status_sent_at_ < kEvery) return;
  std::map<std::string, Json> batch;
  {
    std::lock_guard lock(status_mu_);
    size_t bytes = 0;
    while (!status_pending_.empty() && batch.size() < kBatch) {
      size_t size = status_pending_.begin()->second.dump().size();
      if (!batch.empty() && bytes + size > kBatchBytes) break;
      bytes += size;
      auto node = status_pending_.extract(status_pending_.begin());
      batch.insert(std::move(node));
    }
  }
  if (batch.empty() || !status_supported_) return;
  status_sent_at_ = now;
  Json reports = Json::array();
  for (const auto& [cluster, report] : batch) {
    reports.push_back({{"cluster", cluster}, {"report", report}});
  }
  auto c = client();
  absl::Status r = c.ok() ? (*c)->reportClusterStatus(options_.hub_id, reports) : c.status();
  int status = metaserver::httpStatusOf(r);
  if (!r.ok() && status == 0) {
    // Unreachable: kept for later, unless a newer report of the cluster came in meanwhile.
    std::lock_guard lock(status_mu_);
    for (auto& [cluster, report] : batch) status_pending_.try_emplace(cluster, std::move(report));
    noteResult(false, std::string(r.message()));
    return;
  }
  if (!r.ok() && status == 404) {
    log::warn(
        "the metaserver does not take cluster status reports (an older version); not sending "
        "them",
        {{"error", r.message()}});
    status_supported_ = false;
    return;
  }
  if (!r.ok()) {
    log::warn("cluster status reports refused",
              {{"reports", batch.size()}, {"error", r.message()}});
  }
}

void MetaserverSync::run() {
  // A resource error (out of descriptors or memory) in one pass must not end the process: the
  // hub keeps serving with what it knows and the next pass tries again.
  while (!stopping_) {
    try {
      runPasses();
    } catch (const std::exception& e) {
      log::error("metaserver sync pass failed; retrying", {{"error", e.what()}});
      noteResult(false, std::string("internal error: ") + e.what());
      std::unique_lock lock(signal_->mu);
      signal_->cv.wait_for(lock, options_.revocation_poll, [this] { return stopping_.load(); });
    }
  }
}

void MetaserverSync::runPasses() {
  using Clock = std::chrono::steady_clock;
  auto next_state = Clock::now();
  auto next_keys = Clock::now();
  auto next_heartbeat = Clock::now();
  auto next_routes = Clock::now();
  auto next_safety = Clock::now();
  bool heartbeat_failed = true;
  while (!stopping_) {
    auto now = Clock::now();
    if (!identity_checked_) {
      absl::Status s = checkIdentity();
      if (!s.ok() && identity_checked_) {
        log::error("the metaserver refuses this hub's registry reports",
                   {{"hub_id", options_.hub_id}, {"error", s.message()}});
      }
    }
    // Following the change feed, a feed is fetched when it moved (and every safety_poll in
    // case); without it, everything is polled as often as before.
    std::set<std::string> moved;
    {
      std::lock_guard lock(signal_->mu);
      moved.swap(signal_->moved);
    }
    const bool live = signal_->live.load();
    const bool safety = live && now >= next_safety;
    auto due = [&](const char* feed) { return safety || moved.count(feed) > 0; };
    if (now >= next_keys || want_keys_.exchange(false) || (live && due("keys"))) {
      syncKeys();
      next_keys = now + options_.state_poll * 5;
    }
    if (live ? due("grants") : now >= next_state) syncGrants();
    if (live ? due("clusters") : now >= next_state) syncClusters();
    if (!live && now >= next_state) next_state = now + options_.state_poll;
    if (!live || due("revocations")) syncRevocations();
    if (!live || due("bans")) syncBans();
    if (now >= next_heartbeat) {
      bool ok = heartbeat();
      if (ok && heartbeat_failed) {
        // Our registrations may have expired while we could not heartbeat: re-announce what we
        // hold, except a cluster with an event still to send (its latest state: a tunnel that
        // went down during the outage must not be announced as held).
        std::lock_guard lock(events_mu_);
        for (const auto& c : held_) {
          if (!pendingLocked(c)) events_.emplace_back(c, true);
        }
      }
      heartbeat_failed = !ok;
      next_heartbeat = now + options_.heartbeat;
    }
    flushRegistryEvents();
    flushStatusReports();
    // A hub whose heartbeats stopped leaves the table by expiry, which the metaserver announces
    // on the routes feed too (its janitor, every few seconds).
    if (!live || due("routes") || want_routes_.exchange(false) || now >= next_routes) {
      syncRoutes();
      next_routes = now + (live ? options_.safety_poll : options_.state_poll);
    }
    if (safety) next_safety = now + options_.safety_poll;
    std::unique_lock lock(signal_->mu);
    auto until = Clock::now() + options_.revocation_poll;
    if (signal_->live.load())
      until = std::min({next_heartbeat, next_routes, next_keys, next_safety});
    {
      std::lock_guard status_lock(status_mu_);
      if (!status_pending_.empty() && status_supported_)
        until = std::min(until, status_sent_at_ + std::chrono::seconds(1));
    }
    signal_->cv.wait_until(lock, until, [this] {
      return stopping_.load() || signal_->woken || !signal_->moved.empty();
    });
    signal_->woken = false;
  }
}

// The change feed's long poll, on a thread of its own; stop() cancels the poll in progress.
void MetaserverSync::watchChanges(MetaserverSyncOptions o, std::shared_ptr<Signal> signal) {
  std::shared_ptr<metaserver::MetaserverClient> client;
  std::map<std::string, int64_t> last;
  std::string since;
  std::chrono::milliseconds backoff{500};
  while (!signal->stopping) {
    std::string why;
    std::set<std::string> moved;
    bool ok = false;
    if (!client) {
      metaserver::MetaserverClientOptions co;
      co.url = o.url;
      co.token = o.token;
      co.token_source = o.token_source;
      co.tls = o.tls;
      co.timeout =
          std::chrono::duration_cast<std::chrono::milliseconds>(o.change_wait) + o.request_timeout;
      auto c = metaserver::MetaserverClient::create(std::move(co));
      if (c.ok()) {
        client = std::shared_ptr<metaserver::MetaserverClient>(std::move(*c));
        std::lock_guard lock(signal->mu);
        if (signal->stopping) return;
        signal->client = client;
      } else {
        why = std::string(c.status().message());
      }
    }
    if (client) {
      auto page = client->changes(since, o.change_wait);
      if (!page.ok()) {
        why = describe("GET /api/v1/changes", page.status());
      } else {
        for (const auto& [feed, g] : page->feeds) {
          auto it = last.find(feed);
          if (it == last.end() || it->second != g) moved.insert(feed);
          last[feed] = g;
        }
        since = page->since;
        ok = true;
      }
    }
    if (signal->stopping) return;
    if (ok) {
      backoff = std::chrono::milliseconds(500);
      if (!signal->live.exchange(true)) {
        log::info("following the metaserver's change feed: each feed is fetched when it changes",
                  {{"url", o.url}});
      }
      if (!moved.empty()) {
        std::lock_guard lock(signal->mu);
        signal->moved.insert(moved.begin(), moved.end());
        signal->cv.notify_all();
      }
      continue;
    }
    if (signal->live.exchange(false)) {
      log::warn("the metaserver's change feed is not answering; polling it meanwhile",
                {{"error", why}});
      std::lock_guard lock(signal->mu);
      signal->woken = true;
      signal->cv.notify_all();
    }
    // Afresh after a failure: the first answer marks every feed as moved.
    since.clear();
    last.clear();
    std::unique_lock lock(signal->mu);
    signal->cv.wait_for(lock, backoff, [&] { return signal->stopping.load(); });
    backoff = std::min<std::chrono::milliseconds>(backoff * 2, std::chrono::seconds(30));
  }
}

std::string randomInstanceId() {
  std::random_device rd;
  uint64_t v = (static_cast<uint64_t>(rd()) << 32) ^ rd();
  char out[17];
  std::snprintf(out, sizeof(out), "%016llx", static_cast<unsigned long long>(v));
  return out;
}

void MetaserverSync::leave() {
  auto c = client();
  absl::Status r = c.ok() ? (*c)->leave(options_.hub_id) : c.status();
  if (r.ok() || metaserver::httpStatusOf(r) == 404) {
    log::info("left the registry", {{"hub_id", options_.hub_id}});
  } else {
    log::warn("could not leave the registry; its entry expires with its heartbeat",
              {{"hub_id", options_.hub_id}, {"error", r.message()}});
  }
}

}  // namespace kubehub::hub
