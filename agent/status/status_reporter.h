#pragma once
/// The agent's cluster status reports (control message `status`, proto/cluster_status.h): one
/// collector reads the API server's /version and node list every `check_interval`, and each
/// tunnel sends the report at connect, when it changed, and every `interval`, never more often
/// than every `min_interval` (StatusSchedule). Lives on the agent's single-threaded io_context.

#include <boost/asio/awaitable.hpp>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "agent/forward/upstream_client.h"
#include "common/tunnel/mux.h"
#include "proto/cluster_status.h"

namespace kubehub::agent {

struct StatusReporterOptions {
  /// A report goes out this often even when nothing changed.
  std::chrono::milliseconds interval{60000};
  /// How often the API server is read to notice changes.
  std::chrono::milliseconds check_interval{10000};
  /// Never two reports on one tunnel closer than this.
  std::chrono::milliseconds min_interval{10000};
  std::string agent_version;
  std::string agent_build;
  /// Nodes asked for per page of the node list.
  int page_size = 500;
  /// A host agent (--mode native): reports the machine's facts (host_facts.h), reads no API
  /// server; `host_disk_path` is the file system whose size it reports.
  bool host = false;
  std::string host_disk_path = "/";
};

class StatusReporter {
 public:
  explicit StatusReporter(StatusReporterOptions options);

  /// Reads the cluster's status every check_interval, forever (`upstream` unused, may be null,
  /// for a host agent).
  static boost::asio::awaitable<void> run(std::shared_ptr<StatusReporter> self,
                                          std::shared_ptr<UpstreamClient> upstream);
  /// Sends reports on one tunnel until it closes.
  static boost::asio::awaitable<void> serveTunnel(std::shared_ptr<StatusReporter> self,
                                                  std::weak_ptr<tunnel::Mux> mux);

  /// How many resource types discovery found (a tunnel's discovery answered).
  void noteServedTypes(int64_t n);
  /// The report as of now (uptime filled in, no round-trip time); nullopt before the first read.
  std::optional<proto::ClusterStatusReport> current() const;
  /// Moves on each change of the report (uptime aside).
  uint64_t generation() const { return generation_; }
  const StatusReporterOptions& options() const { return options_; }

 private:
  boost::asio::awaitable<void> collect(std::shared_ptr<UpstreamClient> upstream);
  void collectHost();
  void publish(proto::ClusterStatusReport report);

  const StatusReporterOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  std::optional<proto::ClusterStatusReport> report_;
  std::optional<int64_t> served_types_;
  uint64_t generation_ = 0;
  /// Why nodes could not be listed last time ("" when they could): logged once per change.
  std::string nodes_problem_;
  /// Why the host's facts could not be read last time ("" when they could).
  std::string host_problem_;
};

}  // namespace kubehub::agent
