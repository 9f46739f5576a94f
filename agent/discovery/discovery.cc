#include "agent/discovery/discovery.h"

namespace kubehub::agent {

namespace asio = boost::asio;

asio::awaitable<absl::StatusOr<proto::DiscoveryResponse>> discover(
    std::shared_ptr<UpstreamClient> client, int64_t request_id) {
  std::vector<ResourceType> all;
  nlohmann::json version = nlohmann::json::object();
  auto v = co_await UpstreamClient::get(client, "/version");
  if (!v.ok()) co_return v.status();
  if (v->status == 200) {
    auto parsed = nlohmann::json::parse(v->body, nullptr, false);
    if (!parsed.is_discarded()) version = parsed;
  } else if (v->status == 401 || v->status == 403) {
    co_return absl::PermissionDeniedError("the API server refused the agent's credentials (HTTP " +
                                          std::to_string(v->status) + ")");
  }
  auto core = co_await UpstreamClient::get(client, "/api/v1");
  if (!core.ok()) co_return core.status();
  if (core->status != 200) {
    co_return absl::UnavailableError("GET /api/v1 answered HTTP " + std::to_string(core->status));
  }
  auto core_types = parseResourceList(core->body, "", "v1");
  if (!core_types.ok()) co_return core_types.status();
  all.insert(all.end(), core_types->begin(), core_types->end());

  auto groups = co_await UpstreamClient::get(client, "/apis");
  if (!groups.ok()) co_return groups.status();
  if (groups->status != 200) {
    co_return absl::UnavailableError("GET /apis answered HTTP " + std::to_string(groups->status));
  }
  auto gvs = parseGroupVersions(groups->body);
  if (!gvs.ok()) co_return gvs.status();
  std::vector<std::string> failed;
  for (const auto& gv : *gvs) {
    std::string request_0 = "/apis/" + gv;
    auto list = co_await UpstreamClient::get(client, request_0);
    if (!list.ok() || list->status != 200) {
      failed.push_back(gv);  // an unavailable aggregated API must not hide the others
      continue;
    }
    size_t slash = gv.find('/');
    auto types = parseResourceList(list->body, gv.substr(0, slash),
                                   slash == std::string::npos ? "" : gv.substr(slash + 1));
    if (types.ok()) all.insert(all.end(), types->begin(), types->end());
  }
  proto::DiscoveryResponse response;
  response.id = request_id;
  response.server_version = std::move(version);
  response.resources = toJson(all);
  response.failed_group_versions = std::move(failed);
  co_return std::move(response);
}

}  // namespace kubehub::agent
