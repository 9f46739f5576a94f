#include "metaserver/ctl/output.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

namespace kubehub::ctl {

int exitCodeForHttpStatus(int status) {
  if (status >= 200 && status < 300) return kExitOk;
  if (status == 404) return kExitNotFound;
  if (status == 409) return kExitConflict;
  if (status == 401 || status == 403) return kExitDenied;
  if (status == 503) return kExitUnavailable;
  return kExitApiError;
}

std::string display(const Json& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return v.get<std::string>().empty() ? "-" : v.get<std::string>();
  if (v.is_boolean()) return v.get<bool>() ? "true" : "false";
  if (v.is_array()) {
    std::string out;
    for (const auto& item : v)
      out += (out.empty() ? "" : ",") + (item.is_string() ? item.get<std::string>() : item.dump());
    return out.empty() ? "-" : out;
  }
  if (v.is_object()) {
    std::string out;
    for (const auto& [k, item] : v.items()) {
      out += (out.empty() ? "" : ",") + k + "=" +
             (item.is_string() ? item.get<std::string>() : item.dump());
    }
    return out.empty() ? "-" : out;
  }
  return v.dump();
}

Column field(std::string header, std::string key) {
  return Column{std::move(header), [key](const Json& item) {
                  auto it = item.find(key);
                  return it == item.end() ? std::string("-") : display(*it);
                }};
}

std::string renderTable(const std::vector<Column>& columns, const Json& items) {
  std::vector<std::vector<std::string>> rows;
  std::vector<std::string> header;
  for (const auto& c : columns) header.push_back(c.header);
  rows.push_back(header);
  if (items.is_array()) {
    for (const auto& item : items) {
      std::vector<std::string> row;
      for (const auto& c : columns) row.push_back(c.value(item));
      rows.push_back(std::move(row));
    }
  }
  std::vector<size_t> width(columns.size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(width[i] - row[i].size() + 3, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

std::string renderObject(const Json& object) {
  std::string out;
  if (!object.is_object()) return display(object) + "\n";
  for (const auto& [k, v] : object.items()) out += k + ": " + display(v) + "\n";
  return out;
}

namespace {

void flatten(const std::string& prefix, const Json& v, std::string* out) {
  if (v.is_object() && !v.empty()) {
    for (const auto& [k, item] : v.items())
      flatten(prefix.empty() ? k : prefix + "." + k, item, out);
    return;
  }
  *out += prefix + ": " + display(v) + "\n";
}

/// The member at `path` (keys) of `j`, or null.
Json at(const Json& j, std::initializer_list<const char*> path) {
  const Json* cur = &j;
  for (const char* key : path) {
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
  }
  return *cur;
}

}  // namespace

std::string renderFlat(const Json& object) {
  if (!object.is_object()) return display(object) + "\n";
  std::string out;
  flatten("", object, &out);
  return out;
}

std::string renderCluster(const Json& cluster) {
  Json types = at(cluster, {"status", "report", "cache", "types"});
  if (!types.is_array()) return renderFlat(cluster);
  Json rest = cluster;
  rest["status"]["report"]["cache"].erase("types");
  std::string out = renderFlat(rest) + "status.report.cache.types:";
  if (types.empty()) return out + " -\n";
  out += "\n";
  std::string table = renderTable({field("RESOURCE", "resource"), field("VERSION", "version"),
                                   field("OBJECTS", "objects"), field("SYNCED", "synced")},
                                  types);
  for (size_t start = 0; start < table.size();) {
    size_t end = table.find('\n', start);
    if (end == std::string::npos) end = table.size();
    out += "  " + table.substr(start, end - start) + "\n";
    start = end + 1;
  }
  return out;
}

std::string clusterConnected(const Json& cluster) {
  Json connected = at(cluster, {"status", "connected"});
  std::string s = connected.is_boolean() ? (connected.get<bool>() ? "yes" : "no") : "-";
  Json disabled = at(cluster, {"disabled"});
  if (disabled.is_boolean() && disabled.get<bool>()) s += ",disabled";
  return s;
}

std::string clusterKind(const Json& cluster) { return display(at(cluster, {"status", "kind"})); }

namespace {

std::string gib(int64_t bytes) {
  char out[32];
  std::snprintf(out, sizeof out, "%.1fGiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return out;
}

}  // namespace

std::string clusterVersion(const Json& cluster) {
  if (clusterKind(cluster) != "host")
    return display(at(cluster, {"status", "report", "kubernetes", "gitVersion"}));
  Json os = at(cluster, {"status", "report", "host", "os"});
  Json kernel = at(cluster, {"status", "report", "host", "kernel"});
  std::string o = os.is_string() ? os.get<std::string>() : "";
  std::string k = kernel.is_string() ? kernel.get<std::string>() : "";
  if (o.empty() || k.empty()) return display(o.empty() ? kernel : os);
  return o + " (kernel " + k + ")";
}

std::string clusterNodes(const Json& cluster) {
  Json ready = at(cluster, {"status", "report", "nodes", "ready"});
  Json total = at(cluster, {"status", "report", "nodes", "total"});
  if (!ready.is_number_integer() || !total.is_number_integer()) return "-";
  return std::to_string(ready.get<int64_t>()) + "/" + std::to_string(total.get<int64_t>());
}

std::string clusterCpu(const Json& cluster) {
  if (clusterKind(cluster) == "host") {
    Json cpus = at(cluster, {"status", "report", "host", "cpus"});
    return cpus.is_number_integer() ? std::to_string(cpus.get<int64_t>()) : "-";
  }
  Json millis = at(cluster, {"status", "report", "nodes", "allocatable", "cpuMillis"});
  if (!millis.is_number_integer()) return "-";
  int64_t m = millis.get<int64_t>();
  std::string out = std::to_string(m / 1000);
  if (m % 1000 != 0) {
    char frac[8];
    std::snprintf(frac, sizeof frac, ".%03lld", static_cast<long long>(m % 1000));
    std::string f = frac;
    while (f.back() == '0') f.pop_back();
    out += f;
  }
  return out;
}

std::string clusterMemory(const Json& cluster) {
  Json bytes = clusterKind(cluster) == "host"
                   ? at(cluster, {"status", "report", "host", "memory", "totalBytes"})
                   : at(cluster, {"status", "report", "nodes", "allocatable", "memoryBytes"});
  return bytes.is_number_integer() ? gib(bytes.get<int64_t>()) : "-";
}

std::string clusterAgentVersion(const Json& cluster) {
  return display(at(cluster, {"status", "report", "agent", "version"}));
}

Json banRows(const Json& bans) {
  Json rows = Json::array();
  if (!bans.is_object()) return rows;
  for (const char* kind : {"tenant", "user", "cluster"}) {
    auto list = bans.find(std::string(kind) + "s");
    if (list == bans.end() || !list->is_array()) continue;
    for (const auto& b : *list) {
      if (!b.is_object()) continue;
      rows.push_back({{"kind", kind},
                      {"name", b.value("name", Json(nullptr))},
                      {"tenant", b.value("tenant", Json(nullptr))},
                      {"since", b.value("since", Json(nullptr))},
                      {"reason", b.value("reason", Json(nullptr))}});
    }
  }
  return rows;
}

std::vector<std::string> splitList(std::string_view text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start <= text.size()) {
    size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view item = text.substr(start, comma - start);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) out.emplace_back(item);
    start = comma + 1;
  }
  return out;
}

absl::StatusOr<std::map<std::string, std::string>> parseLabels(std::string_view text) {
  std::map<std::string, std::string> out;
  for (const auto& item : splitList(text)) {
    size_t eq = item.find('=');
    if (eq == std::string::npos || eq == 0) {
      return absl::InvalidArgumentError("label \"" + item + "\" must be KEY=VALUE");
    }
    out[item.substr(0, eq)] = item.substr(eq + 1);
  }
  return out;
}

std::string shellQuote(std::string_view arg) {
  bool plain = !arg.empty() && std::all_of(arg.begin(), arg.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || std::strchr("-_./:=@%+,", ch) != nullptr;
  });
  if (plain) return std::string(arg);
  std::string out = "'";
  for (char ch : arg) {
    if (ch == '\'') {
      out += "'\\''";
    } else {
      out += ch;
    }
  }
  return out + "'";
}

std::string agentInstallCommand(const AgentInstall& in, bool template_only) {
  std::vector<std::string> args = {std::string(template_only ? "helm template " : "helm install ") +
                                       shellQuote(in.release) + " " + shellQuote(in.chart),
                                   "--namespace " + shellQuote(in.namespace_name)};
  if (!template_only) args.push_back("--create-namespace");
  args.push_back("--set cluster=" + shellQuote(in.cluster));
  // --set splits values at commas: several URLs go in as a list.
  std::string hubs;
  for (const auto& u : in.hub_urls) hubs += (hubs.empty() ? "" : ",") + u;
  args.push_back("--set " +
                 shellQuote("hubUrl=" + (in.hub_urls.size() == 1 ? hubs : "{" + hubs + "}")));
  args.push_back("--set enrollment.metaserverUrl=" + shellQuote(in.metaserver_url));
  args.push_back("--set enrollment.bootstrapToken=" + shellQuote(in.bootstrap_token));
  if (!in.metaserver_ca_file.empty())
    args.push_back("--set-file enrollment.metaserverCA=" + shellQuote(in.metaserver_ca_file));
  if (!in.hub_ca_file.empty())
    args.push_back("--set-file enrollment.hubCA=" + shellQuote(in.hub_ca_file));
  std::string out;
  for (size_t i = 0; i < args.size(); ++i) {
    out += (i == 0 ? "" : "  ") + args[i] + (i + 1 < args.size() ? " \\\n" : "");
  }
  if (template_only) out += " > " + shellQuote(in.release + ".yaml");
  return out + "\n";
}

}  // namespace kubehub::ctl
