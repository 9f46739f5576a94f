#include "agent/dialer/tunnel_client.h"

#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <atomic>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cstdio>
#include <optional>
#include <random>
#include <variant>

#include "agent/dialer/hub_set.h"
#include "agent/dialer/hubs_message.h"
#include "agent/discovery/discovery.h"
#include "common/auth/tunnel_identity.h"
#include "common/log/log.h"
#include "common/net/async_signal.h"
#include "common/net/backoff.h"
#include "common/net/task_group.h"
#include "common/tunnel/client_handshake.h"
#include "common/tunnel/ws_transport.h"
#include "proto/cluster_status.h"
#include "proto/control.h"
#include "proto/handshake.h"

namespace kubehub::agent {

namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

namespace {

/// How long a stopping agent's tunnels may take to leave: the users' grace (5 s) and the
/// GOAWAY's (5 s) with some to spare.
constexpr auto kStopDeadline = std::chrono::seconds(12);

/// Serial of the certificate `tls` presents, lowercase hex (as the metaserver reports it).
std::string certificateSerial(asio::ssl::context& tls) {
  X509* cert = SSL_CTX_get0_certificate(tls.native_handle());
  if (cert == nullptr) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr);
  if (bn == nullptr) return "";
  char* hex = BN_bn2hex(bn);
  BN_free(bn);
  if (hex == nullptr) return "";
  std::string out = hex;
  OPENSSL_free(hex);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

asio::awaitable<void> answerDiscovery(std::weak_ptr<tunnel::Mux> weak_mux,
                                      std::shared_ptr<UpstreamClient> upstream,
                                      std::shared_ptr<AgentState> state, int64_t id) {
  auto report = co_await discover(upstream, id);
  auto mux = weak_mux.lock();
  if (!mux) co_return;
  if (!report.ok()) {
    state->api_reachable = false;
    state->metrics->apiReachable(false);
    log::warn("discovery failed", {{"error", report.status().message()}});
    proto::DiscoveryError error{id, std::string(report.status().message())};
    mux->sendControl(proto::encodeDiscoveryError(error));
    co_return;
  }
  state->api_reachable = true;
  state->metrics->apiReachable(true);
  if (state->status) state->status->noteServedTypes(static_cast<int64_t>(report->resources.size()));
  mux->sendControl(proto::encodeDiscoveryResponse(*report));
}

/// The agent's tunnels and what they share. Lives as long as runTunnelClient; touched only on
/// the agent's io_context thread.
struct Fleet {
  struct Slot {
    explicit Slot(const asio::any_io_executor& ex) : timer(ex), move(ex) {}
    std::weak_ptr<tunnel::Mux> mux;
    asio::steady_timer timer;
    /// Waiting for a hub to reach (not sleeping a backoff): wake() ends the wait.
    bool waiting = false;
    /// The hub holding this slot's tunnel asked it to move (control message "move").
    bool move_requested = false;
    std::string move_reason;
    /// Hubs the mover suggests (the least loaded), tried first.
    std::vector<std::string> move_to;
    /// Only to a hub in move_to (a rebalancing move), or stay.
    bool move_only = false;
    /// A move found no free hub: it is tried again when the fleet announces hubs (until then).
    std::optional<std::chrono::steady_clock::time_point> move_retry_until;
    /// Wakes serve() for a move, or because the agent is stopping.
    net::AsyncSignal move;
  };

  Fleet(const asio::any_io_executor& ex, TunnelClientOptions o, std::shared_ptr<UpstreamClient> up,
        std::shared_ptr<AgentState> st)
      : options(std::move(o)),
        upstream(std::move(up)),
        state(std::move(st)),
        // Each slot has a shadow (slot + connections) through which a move makes the new tunnel
        // before the old one closes.
        hubs(options.hubs, options.connections * 2),
        rng(std::random_device{}()),
        done(ex) {
    for (int i = 0; i < options.connections; ++i) slots.push_back(std::make_unique<Slot>(ex));
    char hex[17];
    std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(rng()));
    instance = hex;
  }

  /// Something changed that may give a waiting slot a hub to reach.
  void wake() {
    for (auto& slot : slots) {
      if (slot->waiting) slot->timer.cancel();
    }
  }

  /// The agent is stopping: each slot leaves its hub (serve()) and dials no more (runSlot()).
  void stop() {
    stopping = true;
    for (auto& slot : slots) {
      slot->timer.cancel();
      slot->move.notify();
    }
  }

  TunnelClientOptions options;
  std::shared_ptr<UpstreamClient> upstream;
  std::shared_ptr<AgentState> state;
  HubSet hubs;
  std::mt19937_64 rng;
  /// This process, in every HELLO: a hub refuses a second tunnel of it through another
  /// connection rather than replace the first.
  std::string instance;
  std::vector<std::unique_ptr<Slot>> slots;
  int running = 0;
  net::AsyncSignal done;
  bool stopping = false;
  /// Each tunnel's run (runMux): awaited before the agent's context stops.
  net::TaskGroup tunnels{"agent tunnels"};
};

/// How one attempt ended: why, and the hub it reached if it got that far.
struct Attempt {
  std::string reason;
  std::string hub_id;
  /// The hub holds this agent's tunnel through another connection already (GOAWAY
  /// ALREADY_CONNECTED): another hub is to be reached, soon, not after a failure's backoff.
  bool already_connected = false;
};

void learnHubs(Fleet& fleet, const std::string& from, std::string_view message) {
  auto parsed = parseHubsMessage(message);
  if (!parsed.ok()) {
    log::warn("ignoring a malformed hubs message",
              {{"hub_id", from}, {"error", parsed.status().message()}});
    return;
  }
  for (const auto& why : parsed->skipped) {
    log::debug("ignoring an entry of the hubs message", {{"hub_id", from}, {"reason", why}});
  }
  if (!fleet.hubs.setLearned(parsed->hubs)) return;
  log::info("hubs announced", {{"hub_id", from},
                               {"hubs", parsed->hubs.size()},
                               {"known_addresses", fleet.hubs.addresses().size()}});
  fleet.wake();
  // A move that found no free hub may find one now (the hub asking often knows of new hubs
  // a moment before it announces them).
  auto now = std::chrono::steady_clock::now();
  for (auto& slot : fleet.slots) {
    if (slot->move_retry_until && now < *slot->move_retry_until) {
      slot->move_requested = true;
      slot->move.notify();
    }
  }
}

void onControl(std::weak_ptr<Fleet> weak_fleet, std::weak_ptr<tunnel::Mux> weak_mux,
               std::shared_ptr<UpstreamClient> upstream, std::shared_ptr<AgentState> state,
               const std::string& hub_id, std::string message) {
  auto type = proto::controlType(message);
  if (!type.ok()) {
    log::warn("malformed control message from hub",
              {{"hub_id", hub_id}, {"error", type.status().message()}});
    return;
  }
  if (*type == proto::kControlDiscoveryRequest) {
    auto request = proto::parseDiscoveryRequest(message);
    if (!request.ok()) {
      log::warn("ignoring a malformed discovery request",
                {{"hub_id", hub_id}, {"error", request.status().message()}});
      return;
    }
    auto mux = weak_mux.lock();
    if (!mux) return;
    if (!upstream) {
      // A hub that does not know host agents asks anyway.
      proto::DiscoveryError error{request->id, "this agent fronts a host, not an API server"};
      mux->sendControl(proto::encodeDiscoveryError(error));
      return;
    }
    mux->spawn(answerDiscovery(weak_mux, upstream, state, request->id));
  } else if (*type == proto::kControlHubs) {
    if (auto fleet = weak_fleet.lock()) learnHubs(*fleet, hub_id, message);
  } else if (*type == proto::kControlMove) {
    auto move = proto::parseMove(message);
    if (!move.ok()) {
      log::warn("ignoring a malformed move message",
                {{"hub_id", hub_id}, {"error", move.status().message()}});
      return;
    }
    auto fleet = weak_fleet.lock();
    if (!fleet) return;
    auto holder = fleet->hubs.holder(hub_id);
    if (!holder || *holder >= fleet->options.connections) return;
    auto& slot = *fleet->slots[static_cast<size_t>(*holder)];
    slot.move_requested = true;
    slot.move_reason = move->reason.empty() ? std::string("asked by the hub") : move->reason;
    slot.move_to = std::move(move->to);
    slot.move_only = move->only && !slot.move_to.empty();
    slot.move.notify();
  } else {
    log::debug("ignoring control message", {{"type", *type}});
  }
}

/// Users' requests in flight on one tunnel (not the hub's own, such as its cache's watches,
/// which never end): what a tunnel being left waits for.
using UserStreams = std::shared_ptr<std::atomic<int>>;

asio::awaitable<void> forwardCounted(std::shared_ptr<UpstreamClient> upstream,
                                     std::shared_ptr<tunnel::Stream> stream,
                                     proto::RequestHead head, bool hub_marks_internal,
                                     UserStreams in_flight) {
  struct Count {
    UserStreams n;
    ~Count() { n->fetch_sub(1); }
  } count{in_flight};
  co_await UpstreamClient::forward(std::move(upstream), std::move(stream), std::move(head),
                                   hub_marks_internal);
}

asio::awaitable<void> commandCounted(std::shared_ptr<CommandService> commands,
                                     std::shared_ptr<tunnel::Stream> stream,
                                     proto::RequestHead head, UserStreams in_flight) {
  struct Count {
    UserStreams n;
    ~Count() { n->fetch_sub(1); }
  } count{in_flight};
  co_await CommandService::serve(std::move(commands), std::move(stream), std::move(head));
}

/// Each stream the hub opens, served by a task the tunnel owns (it ends with the tunnel).
void onOpen(std::shared_ptr<UpstreamClient> upstream, std::shared_ptr<CommandService> commands,
            const std::string& cluster, tunnel::Mux& mux, std::shared_ptr<tunnel::Stream> stream,
            proto::RequestHead head, bool hub_marks_internal, UserStreams in_flight) {
  // The agent's own paths are answered here and never reach the API server (an agent wired
  // without a command service offers none).
  if (CommandService::handles(head.target)) {
    if (!commands) commands = std::make_shared<CommandService>(nullptr, nullptr);
    in_flight->fetch_add(1);
    mux.spawn(commandCounted(std::move(commands), std::move(stream), std::move(head), in_flight));
    return;
  }
  if (!upstream) {
    mux.spawn(CommandService::refuse(std::move(stream), 404, proto::hostRefusal(cluster)));
    return;
  }
  if (head.internal) {
    mux.spawn(
        UpstreamClient::forward(upstream, std::move(stream), std::move(head), hub_marks_internal));
    return;
  }
  in_flight->fetch_add(1);
  mux.spawn(
      forwardCounted(upstream, std::move(stream), std::move(head), hub_marks_internal, in_flight));
}

/// A tunnel through its handshake: the hub it reached, its Mux (handlers set, not running yet).
struct Established {
  std::string hub_id;
  std::string url;
  /// Serial of the client certificate the tunnel presented (hex, as the metaserver shows it).
  std::string cert_serial;
  std::shared_ptr<tunnel::Mux> mux;
  UserStreams user_streams;
};

/// HELLO/WELCOME on a dialed transport; `slot` holds the hub afterwards. On failure, why.
asio::awaitable<std::variant<Established, Attempt>> handshake(
    std::shared_ptr<Fleet> fleet, int slot, std::string url,
    std::unique_ptr<tunnel::Transport> transport) {
  const TunnelClientOptions& o = fleet->options;
  const std::shared_ptr<AgentState>& state = fleet->state;
  proto::Hello hello;
  hello.protocol = proto::kProtocolVersion;
  hello.cluster = o.cluster;
  hello.agent_version = o.agent_version;
  hello.capabilities = {"stream.v1", std::string(proto::kCapabilityInternalOpen),
                        std::string(proto::kCapabilityConnections)};
  if (o.host) hello.capabilities.emplace_back(proto::kCapabilityHost);
  hello.instance = fleet->instance;
  hello.connection = slot % o.connections;
  const std::chrono::milliseconds welcome_timeout(10000);
  auto answer = co_await tunnel::clientHandshake(*transport, hello, welcome_timeout);
  if (!answer.welcome) {
    bool elsewhere = answer.refusal && answer.refusal->code == proto::GoAwayCode::kAlreadyConnected;
    co_return Attempt{std::move(answer.error), "", elsewhere};
  }
  const proto::Welcome* welcome = &*answer.welcome;
  // A hub that names no id is told apart by the address that reached it.
  const std::string hub_id = welcome->hub_id.empty() ? "url:" + url : welcome->hub_id;

  // By now the hub has attached this tunnel and closed any older one of this cluster there
  // (GOAWAY REPLACED): if another of the agent's tunnels held this hub, that older one is the
  // one to drop, or the hub would be left with none. The pick rarely lets this happen (only
  // through an address whose hub could not be known before HELLO).
  if (proto::hasCapability(welcome->capabilities, proto::kCapabilityConnections)) {
    fleet->hubs.noteRefusesDuplicates(hub_id);
  }
  if (auto older = fleet->hubs.hold(slot, hub_id)) {
    log::info("reached a hub another tunnel of this agent held; closing the older tunnel",
              {{"hub_id", hub_id}, {"url", url}, {"connection", slot}, {"older", *older}});
    if (auto older_mux = fleet->slots[static_cast<size_t>(*older % o.connections)]->mux.lock()) {
      older_mux->shutdown(proto::GoAwayCode::kNormal,
                          "this agent reached hub " + hub_id +
                              " again through a newer tunnel, which the hub keeps");
    }
  }
  fleet->wake();

  auto mux = std::make_shared<tunnel::Mux>(std::move(transport),
                                           tunnel::agentMuxOptions(*welcome, o.cluster));
  // A hub that marks its own requests lets the agent refuse any other that names no user.
  bool hub_marks_internal =
      proto::hasCapability(welcome->capabilities, proto::kCapabilityInternalOpen);
  if (!hub_marks_internal) {
    log::warn(
        "the hub does not mark its own requests: requests without impersonation are not "
        "refused (upgrade the hub)",
        {{"hub_id", hub_id}});
  }
  auto upstream = fleet->upstream;
  auto user_streams = std::make_shared<std::atomic<int>>(0);
  auto commands = state->commands;
  // The Mux calls its handler while it runs: a weak reference, or the handler would keep it.
  mux->setOpenHandler([upstream, commands, cluster = o.cluster,
                       weak_mux = std::weak_ptr<tunnel::Mux>(mux), hub_marks_internal,
                       user_streams](std::shared_ptr<tunnel::Stream> s, proto::RequestHead h) {
    if (auto m = weak_mux.lock()) {
      onOpen(upstream, commands, cluster, *m, std::move(s), std::move(h), hub_marks_internal,
             user_streams);
    }
  });
  mux->setControlHandler([weak_fleet = std::weak_ptr<Fleet>(fleet),
                          weak_mux = std::weak_ptr<tunnel::Mux>(mux), upstream, state,
                          hub_id](std::string m) {
    onControl(weak_fleet, weak_mux, upstream, state, hub_id, std::move(m));
  });
  co_return Established{hub_id, url, "", std::move(mux), std::move(user_streams)};
}

/// Dials `url`; a hub whose certificate names it as one another slot holds is left before
/// HELLO, so that hub never replaces the tunnel it has.
asio::awaitable<std::variant<Established, Attempt>> establish(std::shared_ptr<Fleet> fleet,
                                                              int slot, std::string url) {
  auto ex = co_await asio::this_coro::executor;
  const TunnelClientOptions& o = fleet->options;
  auto parsed = net::parseUrl(url);
  if (!parsed.ok()) co_return Attempt{std::string(parsed.status().message()), ""};
  auth::CertificateIdentity certificate;
  // The context in force now (a renewal replaces it for the tunnels dialed after).
  auto tls = o.tls->current();
  if (!tls) co_return Attempt{"no client certificate yet", ""};
  auto transport = co_await tunnel::dialTunnel(ex, tls, *parsed, o.dial_timeout, &certificate);
  if (!transport.ok()) {
    fleet->state->dial_failures++;
    fleet->state->metrics->dialFailed();
    co_return Attempt{std::string(transport.status().message()), ""};
  }
  if (auto hub = auth::hubIdOf(certificate)) {
    fleet->hubs.noteSeen(url, *hub);
    if (auto holder = fleet->hubs.holder(*hub); holder && *holder != slot) {
      co_await (*transport)->close("this agent holds a tunnel to this hub already");
      co_return Attempt{"the hub's certificate names hub " + *hub + ", which connection " +
                            std::to_string(*holder) + " of this agent holds already",
                        *hub, true};
    }
  }
  auto made = co_await handshake(fleet, slot, url, std::move(*transport));
  if (auto* up = std::get_if<Established>(&made)) up->cert_serial = certificateSerial(*tls);
  co_return made;
}

/// A tunnel serving: its Mux running, counted while it lives.
struct Running {
  Established tunnel;
  std::optional<std::string> ended;  // why run() returned, once it has
  std::shared_ptr<net::AsyncSignal> done;
  uint64_t live = 0;
};

asio::awaitable<void> runMux(std::shared_ptr<Running> r) {
  r->ended = co_await r->tunnel.mux->run();
  r->done->notify();
}

std::shared_ptr<Running> startServing(Fleet& fleet, int slot, Established tunnel) {
  auto r = std::make_shared<Running>();
  r->tunnel = std::move(tunnel);
  r->done = std::make_shared<net::AsyncSignal>(r->tunnel.mux->executor());
  const std::shared_ptr<AgentState>& state = fleet.state;
  fleet.slots[static_cast<size_t>(slot)]->mux = r->tunnel.mux;
  int up = ++state->tunnels_up;
  state->connects++;
  state->metrics->tunnelUp();
  r->live = state->metrics->addLiveTunnel([weak = std::weak_ptr<tunnel::Mux>(r->tunnel.mux)]() {
    auto m = weak.lock();
    if (!m) return std::pair<uint64_t, uint64_t>{0, 0};
    return std::pair<uint64_t, uint64_t>{m->stats().bytes_in.load(), m->stats().bytes_out.load()};
  });
  log::info("tunnel up", {{"hub_id", r->tunnel.hub_id},
                          {"url", r->tunnel.url},
                          {"cluster", fleet.options.cluster},
                          {"connection", slot},
                          {"tunnels_up", up},
                          {"cert_serial", r->tunnel.cert_serial}});
  fleet.tunnels.spawn(r->tunnel.mux->executor(), runMux(r));
  if (state->status) {
    r->tunnel.mux->spawn(StatusReporter::serveTunnel(state->status, r->tunnel.mux));
  }
  return r;
}

void stoppedServing(Fleet& fleet, const Running& r) {
  --fleet.state->tunnels_up;
  fleet.state->metrics->tunnelDown();
  fleet.state->metrics->removeLiveTunnel(r.live);
}

/// Leaves a tunnel the agent has replaced (`to` the new hub) or is stopping (`to` empty): users'
/// requests in flight on it may finish (a short grace; watches and other long streams then end
/// as if the edge closed them, and clients resume them through another tunnel), then GOAWAY.
asio::awaitable<void> leave(std::shared_ptr<Running> old, std::string to, std::string why) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer timer(ex);
  // A move: first the new tunnel reaches the fleet's routing tables (they refresh within half
  // a second), then the old hub is told to send nothing new (control message "leaving"), then
  // what is in flight there gets a grace.
  if (!to.empty()) {
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  if (!old->ended) {
    proto::Leaving leaving;
    leaving.to = to;
    old->tunnel.mux->sendControl(proto::encodeLeaving(leaving));
  }
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  // Users' requests only: the hub's own cache watches never end (against a hub that does not
  // mark its requests every stream counts as a user's, and the grace runs out).
  while (!old->ended && old->tunnel.user_streams->load() > 0 &&
         std::chrono::steady_clock::now() < deadline) {
    timer.expires_after(std::chrono::milliseconds(50));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
  old->tunnel.mux->shutdown(proto::GoAwayCode::kNormal, why);
  timer.expires_after(std::chrono::seconds(5));
  while (!old->ended) {
    auto waited =
        co_await (old->done->wait() || timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (waited.index() == 1) break;
  }
}

/// One connection's life once established: serve, and when its hub asks it to move, make a
/// tunnel to another hub first (through the slot's shadow), then leave the old one.
asio::awaitable<Attempt> serve(std::shared_ptr<Fleet> fleet, int slot, Established tunnel) {
  Fleet::Slot& me = *fleet->slots[static_cast<size_t>(slot)];
  const int shadow = slot + fleet->options.connections;
  auto current = startServing(*fleet, slot, std::move(tunnel));
  me.move_requested = false;
  for (;;) {
    if (!current->ended && !fleet->stopping) {
      co_await (current->done->wait() || me.move.wait());
    }
    if (current->ended) break;
    if (fleet->stopping) {
      co_await leave(current, "", "agent stopping");
      break;
    }
    if (!me.move_requested) continue;
    me.move_requested = false;
    const std::string from = current->tunnel.hub_id;
    auto url = fleet->hubs.pick(shadow, fleet->rng(), from, me.move_to, me.move_only);
    if (!url) {
      std::string to;
      for (const auto& id : me.move_to) to += (to.empty() ? "" : " ") + id;
      log::info(me.move_only
                    ? "the hub asked this tunnel to move to a hub this agent cannot reach yet; "
                      "staying until the fleet announces it"
                    : "the hub asked this tunnel to move, but no other hub is free; staying",
                {{"hub_id", from}, {"connection", slot}, {"reason", me.move_reason}, {"to", to}});
      me.move_retry_until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      continue;
    }
    me.move_retry_until.reset();
    auto made = co_await establish(fleet, shadow, *url);
    if (auto* failed = std::get_if<Attempt>(&made)) {
      fleet->hubs.release(shadow);
      log::warn("could not move this tunnel; staying",
                {{"hub_id", from}, {"to", *url}, {"connection", slot}, {"error", failed->reason}});
      continue;
    }
    Established next = std::get<Established>(std::move(made));
    fleet->hubs.transfer(shadow, slot);
    auto old = current;
    current = startServing(*fleet, slot, std::move(next));
    log::info("tunnel moved", {{"from", from},
                               {"to", current->tunnel.hub_id},
                               {"connection", slot},
                               {"reason", me.move_reason}});
    if (current->tunnel.hub_id != from) {
      co_await leave(old, current->tunnel.hub_id, "moved to hub " + current->tunnel.hub_id);
    }
    // (The same hub again, through an address that hid it: that hub has replaced the old
    // tunnel itself.)
    stoppedServing(*fleet, *old);
  }
  stoppedServing(*fleet, *current);
  co_return Attempt{*current->ended, current->tunnel.hub_id};
}

asio::awaitable<Attempt> attempt(std::shared_ptr<Fleet> fleet, int slot, std::string url) {
  auto made = co_await establish(fleet, slot, url);
  if (auto* failed = std::get_if<Attempt>(&made)) co_return std::move(*failed);
  co_return co_await serve(fleet, slot, std::get<Established>(std::move(made)));
}

/// One of the agent's tunnels, forever: pick an address, connect, serve, back off, again.
asio::awaitable<void> runSlot(std::shared_ptr<Fleet> fleet, int slot) {
  const TunnelClientOptions& o = fleet->options;
  Fleet::Slot& me = *fleet->slots[static_cast<size_t>(slot)];
  net::Backoff backoff(o.backoff_base, o.backoff_max);
  // Landing again on a hub this agent holds (a load balancer chose it): retried soon, then
  // slower (an LB with client affinity keeps choosing the same hub), never as a failure.
  net::Backoff elsewhere(std::chrono::milliseconds(100), o.backoff_max);
  bool told_waiting = false;
  while (!fleet->stopping) {
    auto url = fleet->hubs.pick(slot, fleet->rng());
    boost::system::error_code ec;
    if (!url) {
      // Fewer hubs than connections (or another connection is finding out where an address
      // leads): wait for news rather than dial a hub some tunnel holds.
      if (!told_waiting && !fleet->hubs.othersDialing(slot)) {
        log::info("no other hub to reach for now; connection waits",
                  {{"connection", slot},
                   {"tunnels_up", fleet->hubs.heldCount()},
                   {"known_addresses", fleet->hubs.addresses().size()}});
        told_waiting = true;
      }
      me.waiting = true;
      me.timer.expires_after(o.backoff_max);
      co_await me.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      me.waiting = false;
      continue;
    }
    told_waiting = false;
    auto started = std::chrono::steady_clock::now();
    Attempt result = co_await attempt(fleet, slot, *url);
    fleet->hubs.release(slot);
    me.mux.reset();
    fleet->wake();
    if (fleet->stopping) break;
    if (std::chrono::steady_clock::now() - started >= o.stable_after) {
      backoff.reset();
      elsewhere.reset();
    }
    if (result.already_connected) {
      auto delay = elsewhere.next(fleet->rng);
      log::info(
          "reached a hub this agent holds already through another connection; trying "
          "again for another",
          {{"url", *url},
           {"connection", slot},
           {"reason", result.reason},
           {"attempt", elsewhere.attempts()},
           {"retry_in_ms", delay.count()}});
      me.timer.expires_after(delay);
      co_await me.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
      continue;
    }
    auto delay = backoff.next(fleet->rng);
    fleet->state->metrics->backoff(static_cast<double>(delay.count()) / 1000.0);
    log::warn("tunnel down, will retry", {{"url", *url},
                                          {"hub_id", result.hub_id},
                                          {"connection", slot},
                                          {"reason", result.reason},
                                          {"attempt", backoff.attempts()},
                                          {"retry_in_ms", delay.count()}});
    me.timer.expires_after(delay);
    co_await me.timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace

asio::awaitable<void> runTunnelClient(TunnelClientOptions o,
                                      std::shared_ptr<UpstreamClient> upstream,
                                      std::shared_ptr<AgentState> state) {
  auto ex = co_await asio::this_coro::executor;
  o.connections = std::max(o.connections, 1);
  auto fleet = std::make_shared<Fleet>(ex, std::move(o), std::move(upstream), std::move(state));
  for (int i = 0; i < fleet->options.connections; ++i) {
    ++fleet->running;
    asio::co_spawn(ex, runSlot(fleet, i), [fleet, i](std::exception_ptr e) {
      if (e) log::error("an agent tunnel loop failed", {{"connection", i}});
      --fleet->running;
      fleet->done.notify();
    });
  }
  while (fleet->running > 0) {
    co_await fleet->done.wait();
    auto cancelled = (co_await asio::this_coro::cancellation_state).cancelled();
    if (cancelled != asio::cancellation_type::none) break;
  }
  if (fleet->running == 0) co_return;
  // Cancelled: the agent is stopping. Each tunnel says "leaving" (its hub routes nothing new
  // here), users' requests in flight get their grace, then GOAWAY; after kStopDeadline what is
  // still open is closed at once.
  co_await asio::this_coro::reset_cancellation_state();
  if (int up = fleet->state->tunnels_up.load(); up > 0)
    log::info("tunnels leaving their hubs", {{"tunnels_up", up}});
  fleet->stop();
  asio::steady_timer deadline(ex);
  deadline.expires_after(kStopDeadline);
  while (fleet->running > 0) {
    auto waited =
        co_await (fleet->done.wait() || deadline.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (waited.index() == 1) break;
  }
  if (fleet->running > 0) {
    for (auto& slot : fleet->slots) {
      if (auto mux = slot->mux.lock()) mux->shutdown(proto::GoAwayCode::kNormal, "agent stopping");
    }
  }
  // Every tunnel's run (and so every task it owns) has ended before the agent's context stops.
  fleet->tunnels.stop();
  bool ended = co_await fleet->tunnels.asyncWait(std::chrono::seconds(2));
  if (!ended) log::warn("agent tunnels still open at exit", {{"tunnels", fleet->tunnels.size()}});
}

}  // namespace kubehub::agent
