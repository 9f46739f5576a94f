#include "agent/status/status_reporter.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <cctype>
#include <nlohmann/json.hpp>

#include "agent/status/host_facts.h"
#include "agent/status/node_summary.h"
#include "agent/status/status_schedule.h"
#include "common/log/log.h"

namespace kubehub::agent {

namespace asio = boost::asio;

namespace {

/// Bounds the node list read: 200 pages of 500 nodes is beyond any real cluster.
constexpr int kMaxNodePages = 200;

std::string urlEncode(std::string_view s) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

/// The whole node list, page by page; on failure, why (for the report's nodesError).
asio::awaitable<absl::StatusOr<proto::NodeSummary>> readNodes(
    std::shared_ptr<UpstreamClient> upstream, int page_size) {
  proto::NodeSummary sum;
  std::string next;
  for (int page = 0; page < kMaxNodePages; ++page) {
    std::string target = "/api/v1/nodes?limit=" + std::to_string(page_size);
    if (!next.empty()) target += "&continue=" + urlEncode(next);
    auto r = co_await UpstreamClient::get(upstream, target);
    if (!r.ok()) co_return r.status();
    if (r->status == 403) {
      // The API server's own words name the identity and the missing right.
      auto status = nlohmann::json::parse(r->body, nullptr, false);
      std::string why =
          status.is_object() && status.contains("message") && status["message"].is_string()
              ? status["message"].get<std::string>()
              : std::string("HTTP 403");
      co_return absl::PermissionDeniedError("forbidden: " + why +
                                            " (the agent's ClusterRole needs list on nodes)");
    }
    if (r->status != 200) {
      co_return absl::UnavailableError("GET /api/v1/nodes answered HTTP " +
                                       std::to_string(r->status));
    }
    auto cont = addNodeListPage(r->body, &sum);
    if (!cont.ok()) co_return cont.status();
    if (cont->empty()) co_return sum;
    next = std::move(*cont);
  }
  co_return absl::ResourceExhaustedError("the node list has more than " +
                                         std::to_string(kMaxNodePages) + " pages");
}

/// Volatile fields apart, whether two reports say the same.
bool sameReport(const proto::ClusterStatusReport& a, const proto::ClusterStatusReport& b) {
  proto::ClusterStatusReport x = a, y = b;
  x.uptime_seconds = y.uptime_seconds = 0;
  x.rtt_ms = y.rtt_ms = std::nullopt;
  // A host's uptime, load and free memory move all the time: only the interval sends them.
  for (auto* r : {&x, &y}) {
    if (!r->host) continue;
    r->host->uptime_seconds = 0;
    r->host->load1 = r->host->load5 = r->host->load15 = 0;
    r->host->memory_available_bytes = r->host->disk_free_bytes = 0;
  }
  return x == y;
}

}  // namespace

StatusReporter::StatusReporter(StatusReporterOptions options) : options_(std::move(options)) {}

void StatusReporter::noteServedTypes(int64_t n) {
  if (served_types_ == n) return;
  served_types_ = n;
  if (report_) {
    auto next = *report_;
    next.served_types = n;
    publish(std::move(next));
  }
}

std::optional<proto::ClusterStatusReport> StatusReporter::current() const {
  if (!report_) return std::nullopt;
  auto r = *report_;
  r.uptime_seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started_)
          .count();
  return r;
}

void StatusReporter::publish(proto::ClusterStatusReport report) {
  bool same = report_ && sameReport(*report_, report);
  report_ = std::move(report);
  if (!same) ++generation_;
}

void StatusReporter::collectHost() {
  proto::ClusterStatusReport r;
  r.kind = proto::kKindHost;
  r.agent_version = options_.agent_version;
  r.agent_build = options_.agent_build;
  auto facts = readHostFacts(options_.host_disk_path, "");
  std::string problem;
  if (facts.ok()) {
    r.host = std::move(*facts);
  } else {
    problem = std::string(facts.status().message());
  }
  if (problem != host_problem_) {
    if (!problem.empty()) {
      log::warn("cannot read the host's facts; no status report goes out", {{"error", problem}});
    }
    host_problem_ = problem;
  }
  // A host report without its facts would not parse at the hub.
  if (r.host) publish(std::move(r));
}

asio::awaitable<void> StatusReporter::collect(std::shared_ptr<UpstreamClient> upstream) {
  proto::ClusterStatusReport r;
  r.agent_version = options_.agent_version;
  r.agent_build = options_.agent_build;
  r.served_types = served_types_;
  auto version = co_await UpstreamClient::get(upstream, "/version");
  if (version.ok() && version->status == 200) {
    auto j = nlohmann::json::parse(version->body, nullptr, false);
    if (j.is_object()) {
      auto text = [&j](const char* key) {
        auto it = j.find(key);
        if (it == j.end() || !it->is_string()) return std::string();
        // Kept within what the report accepts.
        std::string s = it->get<std::string>().substr(0, proto::kMaxStatusVersionLength);
        for (char& c : s) {
          if (c < 0x20 || c >= 0x7f) c = '?';
        }
        return s;
      };
      r.kubernetes_version = text("gitVersion");
      r.platform = text("platform");
    }
  }
  auto nodes = co_await readNodes(upstream, options_.page_size);
  std::string problem;
  if (nodes.ok()) {
    r.nodes = *nodes;
  } else {
    problem = std::string(nodes.status().message()).substr(0, proto::kMaxStatusErrorLength);
    for (char& c : problem) {
      if (c < 0x20 || c >= 0x7f) c = '?';
    }
    r.nodes_error = problem;
  }
  if (problem != nodes_problem_) {
    if (problem.empty()) {
      log::info("nodes can be listed again; cluster status reports node counts");
    } else {
      log::warn("cannot list nodes; cluster status reports go without node counts",
                {{"error", problem}});
    }
    nodes_problem_ = problem;
  }
  publish(std::move(r));
}

asio::awaitable<void> StatusReporter::run(std::shared_ptr<StatusReporter> self,
                                          std::shared_ptr<UpstreamClient> upstream) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  for (;;) {
    if (self->options_.host) {
      self->collectHost();
    } else {
      co_await self->collect(upstream);
    }
    timer.expires_after(self->options_.check_interval);
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

asio::awaitable<void> StatusReporter::serveTunnel(std::shared_ptr<StatusReporter> self,
                                                  std::weak_ptr<tunnel::Mux> weak_mux) {
  asio::steady_timer timer(co_await asio::this_coro::executor);
  StatusSchedule schedule(self->options_.interval, self->options_.min_interval);
  for (;;) {
    {
      auto mux = weak_mux.lock();
      if (!mux || mux->closing()) co_return;
      auto now = StatusSchedule::Clock::now();
      uint64_t generation = self->generation_;
      if (auto report = self->current(); report && schedule.due(now, generation)) {
        int64_t rtt_us = mux->stats().rtt_us.load();
        if (rtt_us >= 0) report->rtt_ms = static_cast<double>(rtt_us) / 1000.0;
        mux->sendControl(proto::encodeStatusMessage(*report));
        schedule.sent(now, generation);
      }
    }
    // Checking once a second keeps a change's delay small without a wake-up per tunnel.
    timer.expires_after(std::chrono::seconds(1));
    co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
  }
}

}  // namespace kubehub::agent
