#include "hub/tunnel/agent_session.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "common/auth/tunnel_identity.h"
#include "common/log/log.h"
#include "hub/tunnel/status_forwarder.h"
#include "hub/tunnel/tunnel_mover.h"
#include "proto/cluster_status.h"
#include "proto/control.h"
#include "proto/frame.h"
#include "proto/handshake.h"

namespace kubehub::hub {

namespace asio = boost::asio;
using proto::FrameType;

namespace {

bool offersInternalOpen(const proto::Hello& hello) {
  return proto::hasCapability(hello.capabilities, proto::kCapabilityInternalOpen);
}

asio::awaitable<void> refuse(tunnel::Transport& transport, proto::GoAwayCode code,
                             std::string_view reason, const tunnel::TunnelPeer& peer) {
  log::warn("agent refused",
            {{"peer", peer.address}, {"certificate_cn", peer.common_name}, {"reason", reason}});
  // Named locals, not temporaries inside co_await: GCC 12 destroys some such temporaries twice.
  proto::GoAwayInfo info;
  info.code = code;
  info.reason = std::string(reason);
  std::string frame = proto::encodeFrame(FrameType::kGoAway, 0, 0, proto::encodeGoAway(info));
  co_await transport.write(frame);
  co_await transport.close(reason);
}

/// What a session and its control handler share about the tunnel's registration.
struct Registration {
  /// The agent said it is leaving (moved to another hub): the tunnel was taken out of the
  /// registry then, not when it closes.
  std::atomic<bool> left{false};
};

void onControl(std::weak_ptr<TunnelRegistry> weak_registry, std::weak_ptr<tunnel::Mux> weak_mux,
               std::shared_ptr<cache::CacheRegistry> cache,
               std::shared_ptr<MetaserverSync> metaserver,
               std::shared_ptr<Registration> registration, std::string cluster,
               std::string message) {
  auto registry = weak_registry.lock();
  auto mux = weak_mux.lock();
  if (!registry || !mux) return;
  auto type = proto::controlType(message);
  if (!type.ok()) {
    log::warn("malformed control message from agent",
              {{"cluster", cluster}, {"error", type.status().message()}});
    return;
  }
  if (*type == proto::kControlDiscoveryResponse) {
    auto report = proto::parseDiscoveryReport(message);
    if (!report.ok()) {
      log::warn("malformed discovery report from agent",
                {{"cluster", cluster}, {"error", report.status().message()}});
      return;
    }
    log::info("discovery received", {{"cluster", cluster},
                                     {"resources", report->listed},
                                     {"usable", report->resources.size()},
                                     {"kubernetes_version", report->server_version}});
    if (cache) cache->attach(cluster, mux, *report);
    registry->setDiscovery(cluster, mux.get(), std::move(message), *report);
  } else if (*type == proto::kControlLeaving) {
    // The agent's new tunnel (on another hub) is up, or the agent is stopping (no `to`): new
    // requests go elsewhere from now on, while those in flight here finish before the agent
    // closes this one. (Where to is only logged.)
    auto leaving = proto::parseLeaving(message);
    std::string to = leaving.ok() ? leaving->to : "";
    if (to.empty()) {
      log::info("agent leaving: it is stopping", {{"cluster", cluster}});
    } else {
      log::info("agent leaving for another hub", {{"cluster", cluster}, {"to", to.substr(0, 253)}});
    }
    registry->detach(cluster, mux.get());
    if (!registration->left.exchange(true) && metaserver && !registry->find(cluster)) {
      metaserver->clusterDisconnected(cluster);
      metaserver->setAgentCount(registry->size());
    }
  } else if (*type == proto::kControlStatus) {
    auto report = proto::parseStatusMessage(message);
    if (!report.ok()) {
      log::warn("malformed status report from agent; ignored",
                {{"cluster", cluster}, {"error", report.status().message()}});
      return;
    }
    log::debug("status report received",
               {{"cluster", cluster},
                {"kubernetes_version", report->kubernetes_version},
                {"nodes", report->nodes ? report->nodes->total : -1},
                {"ready_nodes", report->nodes ? report->nodes->ready : -1}});
    // The cache is the hub's to describe, not the agent's (see StatusForwarder).
    report->cache = cacheSummaryFor(cache.get(), cluster, report->kind);
    if (metaserver && !registration->left.load())
      metaserver->reportClusterStatus(cluster, proto::statusReportJson(*report));
    registry->setStatus(cluster, mux.get(), std::move(*report));
  } else if (*type == proto::kControlDiscoveryError) {
    auto error = proto::parseDiscoveryError(message);
    std::string msg = error.ok() ? error->message : std::string(error.status().message());
    log::warn("agent could not discover its API server", {{"cluster", cluster}, {"error", msg}});
  } else {
    log::debug("ignoring control message", {{"cluster", cluster}, {"type", *type}});
  }
}

/// Tells the agent which hubs the fleet has (it keeps tunnels to several: see "hubs" in
/// proto/PROTOCOL.md): at once, then whenever the routing table changes, until the tunnel
/// closes.
asio::awaitable<void> advertiseHubs(std::weak_ptr<tunnel::Mux> weak_mux,
                                    std::shared_ptr<MetaserverSync> metaserver) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  uint64_t sent_version = 0;
  std::string sent;
  for (;;) {
    auto mux = weak_mux.lock();
    if (!mux || mux->closed()) co_return;
    uint64_t version = metaserver->routesVersion();
    if (version != sent_version) {
      sent_version = version;
      auto table = metaserver->routes();
      proto::Hubs hubs;
      for (const auto& [id, h] : table->hubs) {
        if (!h.tunnel.empty() && !h.peer.empty() && !h.draining)
          hubs.hubs.push_back(proto::AnnouncedHub{id, h.tunnel});
      }
      std::string message = proto::encodeHubs(hubs);
      if (table->loaded && message != sent) {
        mux->sendControl(message);
        sent = std::move(message);
      }
    }
    mux.reset();
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace

std::string_view closeReasonClass(const std::string& reason) {
  if (reason.find("newer tunnel") != std::string::npos) return "replaced";
  if (reason.find("protocol error") != std::string::npos) return "protocol_error";
  if (reason.find("shutting down") != std::string::npos) return "shutdown";
  if (reason.find("timed out") != std::string::npos ||
      reason.find("timeout") != std::string::npos) {
    return "timeout";
  }
  return "closed";
}

asio::awaitable<void> runAgentSession(std::shared_ptr<TunnelRegistry> registry,
                                      std::shared_ptr<HubMetrics> metrics,
                                      std::shared_ptr<cache::CacheRegistry> cache,
                                      std::shared_ptr<MetaserverSync> metaserver,
                                      std::unique_ptr<tunnel::Transport> transport,
                                      tunnel::TunnelPeer peer, AgentSessionOptions options) {
  auto refused = [&metrics](std::string_view why) {
    if (metrics) metrics->agentRefused(why);
  };
  transport->setReadDeadline(options.hello_timeout);
  boost::system::error_code ec = co_await transport->read();
  transport->setReadDeadline(std::chrono::milliseconds(0));
  if (ec) {
    log::info("agent went away before HELLO", {{"peer", peer.address}, {"error", ec.message()}});
    co_return;
  }
  auto frame = proto::decodeSingleFrame(transport->message());
  if (!frame.ok() || frame->type != FrameType::kHello) {
    refused("hello");
    co_await refuse(*transport, proto::GoAwayCode::kProtocolError, "the first frame must be HELLO",
                    peer);
    co_return;
  }
  auto hello = proto::decodeHello(frame->payload);
  if (!hello.ok()) {
    refused("hello");
    std::string text_0 = "malformed HELLO: " + std::string(hello.status().message());
    co_await refuse(*transport, proto::GoAwayCode::kProtocolError, text_0, peer);
    co_return;
  }
  if (hello->protocol != proto::kProtocolVersion) {
    refused("version");
    std::string text_1 = "protocol version " + std::to_string(hello->protocol) +
                         " is not supported; this hub speaks " +
                         std::to_string(proto::kProtocolVersion);
    co_await refuse(*transport, proto::GoAwayCode::kVersionMismatch, text_1, peer);
    co_return;
  }
  // The CA that signs agents also signs hubs: only a certificate marked as an agent's may
  // speak for a cluster, or a hub's certificate could replace any cluster's tunnel.
  auto certified = auth::agentClusterOf(peer.certificate);
  if (!certified.ok()) {
    refused("identity");
    std::string text_2(certified.status().message());
    co_await refuse(*transport, proto::GoAwayCode::kUnauthorized, text_2, peer);
    co_return;
  }
  if (hello->cluster != *certified) {
    refused("identity");
    std::string text_3 = "the client certificate is for cluster \"" + *certified +
                         "\" but the agent claims \"" + hello->cluster + "\"";
    co_await refuse(*transport, proto::GoAwayCode::kUnauthorized, text_3, peer);
    co_return;
  }
  if (metaserver) {
    auto snap = metaserver->snapshot();
    auto it = snap->clusters->find(hello->cluster);
    std::string why;
    if (!snap->clusters_loaded) {
      why = "this hub has not loaded the cluster registry from the metaserver yet";
    } else if (it == snap->clusters->end()) {
      why = "cluster \"" + hello->cluster + "\" is not registered in the metaserver";
    } else if (it->second.disabled) {
      why = "cluster \"" + hello->cluster + "\" is disabled in the metaserver";
    }
    if (!why.empty()) {
      refused("identity");
      co_await refuse(*transport, proto::GoAwayCode::kUnauthorized, why, peer);
      co_return;
    }
  }
  if (options.mover && options.mover->draining() && options.mover->othersTakeAgents()) {
    refused("draining");
    co_await refuse(*transport, proto::GoAwayCode::kDraining,
                    "hub \"" + options.hub_id + "\" is draining: connect to another hub", peer);
    co_return;
  }
  // Two tunnels of one agent at one hub would knock each other down (the newer replaces the
  // older): one that reached this hub again through another of its connections, typically
  // through a load balancer in front of the fleet, is sent to find another hub instead. The
  // same connection coming back (a reconnect) replaces its old tunnel as before.
  if (!hello->instance.empty()) {
    if (auto held = registry->agentOf(hello->cluster);
        held && held->first == hello->instance && held->second != hello->connection) {
      refused("already_connected");
      co_await refuse(*transport, proto::GoAwayCode::kAlreadyConnected,
                      "this agent holds a tunnel to hub \"" + options.hub_id +
                          "\" through its connection " + std::to_string(held->second) +
                          " already: reach another hub",
                      peer);
      co_return;
    }
  }
  const tunnel::MuxOptions& mo = options.mux;
  proto::Welcome welcome{proto::kProtocolVersion,
                         options.hub_id,
                         mo.max_frame,
                         mo.stream_window,
                         mo.connection_window,
                         static_cast<uint32_t>(mo.ping_interval.count()),
                         mo.max_streams,
                         {}};
  if (offersInternalOpen(*hello)) welcome.capabilities.emplace_back(proto::kCapabilityInternalOpen);
  if (proto::hasCapability(hello->capabilities, proto::kCapabilityConnections))
    welcome.capabilities.emplace_back(proto::kCapabilityConnections);
  std::string welcome_frame =
      proto::encodeFrame(FrameType::kWelcome, 0, 0, proto::encodeWelcome(welcome));
  ec = co_await transport->write(welcome_frame);
  if (ec) co_return;

  tunnel::MuxOptions mux_options = options.mux;
  mux_options.opens_streams = true;
  mux_options.mark_internal = offersInternalOpen(*hello);
  mux_options.name = hello->cluster;
  auto mux = std::make_shared<tunnel::Mux>(std::move(transport), mux_options);
  std::string cluster = hello->cluster;
  auto registration = std::make_shared<Registration>();
  mux->setControlHandler([weak_registry = std::weak_ptr<TunnelRegistry>(registry),
                          weak_mux = std::weak_ptr<tunnel::Mux>(mux), cache, metaserver,
                          registration, cluster](std::string m) {
    onControl(weak_registry, weak_mux, cache, metaserver, registration, cluster, std::move(m));
  });

  const bool host = proto::hasCapability(hello->capabilities, proto::kCapabilityHost);
  ClusterTunnel entry{
      cluster, mux, hello->agent_version, peer.address,     std::chrono::system_clock::now(), {},
      nullptr, 0,   hello->instance,      hello->connection};
  if (host) entry.kind = proto::kKindHost;
  auto previous = registry->attach(std::move(entry));
  if (previous) {
    log::info("replacing the previous tunnel of the cluster", {{"cluster", cluster}});
    previous->shutdown(proto::GoAwayCode::kReplaced, "a newer tunnel for this cluster connected");
  }
  log::info("tunnel up", {{"cluster", cluster},
                          {"peer", peer.address},
                          {"agent_version", hello->agent_version},
                          {"kind", host ? proto::kKindHost : proto::kKindKubernetes}});
  // A host has no API server to discover: nothing is cached for it.
  if (!host) mux->sendControl(proto::encodeDiscoveryRequest(proto::DiscoveryRequest{1}));
  if (metrics) metrics->tunnelUp();
  if (metaserver) {
    metaserver->clusterConnected(cluster);
    metaserver->setAgentCount(registry->size());
    if (options.advertise_hubs) mux->spawn(advertiseHubs(mux, metaserver));
  }
  std::string reason = co_await mux->run();
  registry->detach(cluster, mux.get());
  if (metaserver) {
    // Only when no newer tunnel of this cluster replaced this one here, and not again when the
    // agent said it was leaving.
    if (!registry->find(cluster) && !registration->left.load())
      metaserver->clusterDisconnected(cluster);
    metaserver->setAgentCount(registry->size());
  }
  if (metrics) metrics->tunnelDown(closeReasonClass(reason));
}

}  // namespace kubehub::hub
