#include "agent/status/node_summary.h"

#include <nlohmann/json.hpp>

#include "common/k8s/quantity.h"

namespace kubehub::agent {

using Json = nlohmann::json;

namespace {

bool isReady(const Json& node) {
  auto status = node.find("status");
  if (status == node.end() || !status->is_object()) return false;
  auto conditions = status->find("conditions");
  if (conditions == status->end() || !conditions->is_array()) return false;
  for (const auto& c : *conditions) {
    if (c.is_object() && c.value("type", Json()) == "Ready")
      return c.value("status", Json()) == "True";
  }
  return false;
}

/// status.allocatable[`resource`] through `parse`; 0 when the node lists none.
absl::StatusOr<int64_t> allocatable(const Json& node, const char* resource,
                                    absl::StatusOr<int64_t> (*parse)(std::string_view)) {
  auto status = node.find("status");
  if (status == node.end() || !status->is_object()) return 0;
  auto alloc = status->find("allocatable");
  if (alloc == status->end() || !alloc->is_object()) return 0;
  auto q = alloc->find(resource);
  if (q == alloc->end()) return 0;
  if (!q->is_string()) {
    return absl::InvalidArgumentError(std::string("status.allocatable.") + resource +
                                      " is not a quantity string");
  }
  return parse(q->get_ref<const std::string&>());
}

}  // namespace

absl::StatusOr<std::string> addNodeListPage(std::string_view body, proto::NodeSummary* sum) {
  Json j = Json::parse(body, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    return absl::InvalidArgumentError("the node list is not a JSON object");
  }
  auto items = j.find("items");
  if (items == j.end() || !(items->is_array() || items->is_null())) {
    return absl::InvalidArgumentError("the node list has no \"items\" array");
  }
  proto::NodeSummary page;
  if (items->is_array()) {
    for (const auto& node : *items) {
      if (!node.is_object()) return absl::InvalidArgumentError("a node is not a JSON object");
      auto cpu = allocatable(node, "cpu", k8s::parseMilliQuantity);
      if (!cpu.ok()) return cpu.status();
      auto memory = allocatable(node, "memory", k8s::parseByteQuantity);
      if (!memory.ok()) return memory.status();
      ++page.total;
      if (isReady(node)) ++page.ready;
      page.cpu_millis += *cpu;
      page.memory_bytes += *memory;
    }
  }
  sum->total += page.total;
  sum->ready += page.ready;
  sum->cpu_millis += page.cpu_millis;
  sum->memory_bytes += page.memory_bytes;
  std::string next;
  if (auto meta = j.find("metadata"); meta != j.end() && meta->is_object()) {
    auto c = meta->find("continue");
    if (c != meta->end() && c->is_string()) next = c->get<std::string>();
  }
  return next;
}

}  // namespace kubehub::agent
