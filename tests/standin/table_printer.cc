#include "tests/standin/table_printer.h"

#include <algorithm>
#include <map>

#include "common/k8s/rfc3339.h"

namespace kubehub::standin {
namespace {

const Json kNull;

const Json& at(const Json& j, std::string_view key) {
  if (!j.is_object()) return kNull;
  auto it = j.find(std::string(key));
  return it == j.end() ? kNull : *it;
}

std::string str(const Json& j, std::string_view key) {
  const Json& v = at(j, key);
  return v.is_string() ? v.get<std::string>() : std::string();
}

int64_t num(const Json& j, std::string_view key) {
  const Json& v = at(j, key);
  return v.is_number_integer() ? v.get<int64_t>() : 0;
}

std::string orNone(std::string s) { return s.empty() ? "<none>" : s; }

std::string age(const std::string& ts, int64_t now) {
  int64_t t = TablePrinter::parseTimestamp(ts);
  if (t < 0) return "<unknown>";
  return TablePrinter::humanDuration(now - t);
}

std::string join(const std::vector<std::string>& parts, std::string_view sep) {
  std::string out;
  for (size_t i = 0; i < parts.size(); ++i) {
    if (i) out.append(sep);
    out.append(parts[i]);
  }
  return out;
}

// metav1.FormatLabelSelector: matchLabels sorted, then expressions.
std::string formatLabelSelector(const Json& sel) {
  if (!sel.is_object()) return "<none>";
  std::vector<std::string> parts;
  std::map<std::string, std::string> labels;
  for (auto it = at(sel, "matchLabels").begin();
       at(sel, "matchLabels").is_object() && it != at(sel, "matchLabels").end(); ++it) {
    labels[it.key()] = it->is_string() ? it->get<std::string>() : "";
  }
  for (auto& [k, v] : labels) parts.push_back(k + "=" + v);
  const Json& exprs = at(sel, "matchExpressions");
  if (exprs.is_array()) {
    for (const Json& e : exprs) {
      std::string op = str(e, "operator");
      std::string key = str(e, "key");
      std::vector<std::string> values;
      if (at(e, "values").is_array()) {
        for (const Json& v : at(e, "values"))
          values.push_back(v.is_string() ? v.get<std::string>() : "");
      }
      std::sort(values.begin(), values.end());
      if (op == "In")
        parts.push_back(key + " in (" + join(values, ",") + ")");
      else if (op == "NotIn")
        parts.push_back(key + " notin (" + join(values, ",") + ")");
      else if (op == "Exists")
        parts.push_back(key);
      else if (op == "DoesNotExist")
        parts.push_back("!" + key);
    }
  }
  return parts.empty() ? "<none>" : join(parts, ",");
}

std::string formatMap(const Json& m) {
  if (!m.is_object() || m.empty()) return "<none>";
  std::map<std::string, std::string> sorted;
  for (auto it = m.begin(); it != m.end(); ++it) {
    sorted[it.key()] = it->is_string() ? it->get<std::string>() : it->dump();
  }
  std::vector<std::string> parts;
  for (auto& [k, v] : sorted) parts.push_back(k + "=" + v);
  return join(parts, ",");
}

Json podCells(const Json& pod, int64_t now, Json* conditions) {
  const Json& meta = at(pod, "metadata");
  const Json& spec = at(pod, "spec");
  const Json& status = at(pod, "status");
  int64_t total =
      at(spec, "containers").is_array() ? static_cast<int64_t>(at(spec, "containers").size()) : 0;
  int64_t ready = 0;
  int64_t restarts = 0;
  int64_t last_restart = -1;
  std::string reason = str(status, "phase");
  if (!str(status, "reason").empty()) reason = str(status, "reason");
  const Json& statuses = at(status, "containerStatuses");
  if (statuses.is_array()) {
    for (size_t i = statuses.size(); i-- > 0;) {
      const Json& c = statuses[i];
      restarts += num(c, "restartCount");
      const Json& term_last = at(at(c, "lastState"), "terminated");
      if (term_last.is_object()) {
        int64_t t = TablePrinter::parseTimestamp(str(term_last, "finishedAt"));
        last_restart = std::max(last_restart, t);
      }
      const Json& state = at(c, "state");
      const Json& waiting = at(state, "waiting");
      const Json& terminated = at(state, "terminated");
      if (waiting.is_object() && !str(waiting, "reason").empty()) {
        reason = str(waiting, "reason");
      } else if (terminated.is_object() && !str(terminated, "reason").empty()) {
        reason = str(terminated, "reason");
      } else if (terminated.is_object()) {
        reason = num(terminated, "signal") != 0
                     ? "Signal:" + std::to_string(num(terminated, "signal"))
                     : "ExitCode:" + std::to_string(num(terminated, "exitCode"));
      } else if (at(c, "ready").is_boolean() && at(c, "ready").get<bool>() &&
                 at(state, "running").is_object()) {
        ++ready;
      }
    }
  }
  if (!str(meta, "deletionTimestamp").empty()) {
    reason = str(status, "reason") == "NodeLost" ? "Unknown" : "Terminating";
  }
  std::string phase = str(status, "phase");
  if (conditions != nullptr && (phase == "Succeeded" || phase == "Failed")) {
    *conditions =
        Json::array({Json{{"type", "Completed"},
                          {"status", "True"},
                          {"reason", phase},
                          {"message", phase == "Succeeded" ? "The pod has completed successfully."
                                                           : "The pod failed."}}});
  }
  std::string restarts_text = std::to_string(restarts);
  if (restarts != 0 && last_restart >= 0) {
    restarts_text += " (" + TablePrinter::humanDuration(now - last_restart) + " ago)";
  }
  std::string ip;
  if (at(status, "podIPs").is_array() && !at(status, "podIPs").empty()) {
    ip = str(at(status, "podIPs")[0], "ip");
  }
  std::string gates = "<none>";
  const Json& rg = at(spec, "readinessGates");
  if (rg.is_array() && !rg.empty()) {
    int true_count = 0;
    for (const Json& g : rg) {
      std::string type = str(g, "conditionType");
      if (at(status, "conditions").is_array()) {
        for (const Json& c : at(status, "conditions")) {
          if (str(c, "type") == type) {
            if (str(c, "status") == "True") ++true_count;
            break;
          }
        }
      }
    }
    gates = std::to_string(true_count) + "/" + std::to_string(rg.size());
  }
  return Json::array({str(meta, "name"), std::to_string(ready) + "/" + std::to_string(total),
                      reason, restarts_text, age(str(meta, "creationTimestamp"), now), orNone(ip),
                      orNone(str(spec, "nodeName")), orNone(str(status, "nominatedNodeName")),
                      gates});
}

Json nodeCells(const Json& node, int64_t now) {
  const Json& meta = at(node, "metadata");
  const Json& status = at(node, "status");
  std::vector<std::string> conds;
  std::string ready = "Unknown";
  if (at(status, "conditions").is_array()) {
    for (const Json& c : at(status, "conditions")) {
      if (str(c, "type") == "Ready") ready = str(c, "status") == "True" ? "Ready" : "NotReady";
    }
  }
  conds.push_back(ready);
  const Json& unsched = at(at(node, "spec"), "unschedulable");
  if (unsched.is_boolean() && unsched.get<bool>()) conds.push_back("SchedulingDisabled");
  std::vector<std::string> roles;
  const Json& labels = at(meta, "labels");
  if (labels.is_object()) {
    for (auto it = labels.begin(); it != labels.end(); ++it) {
      if (it.key().starts_with("node-role.kubernetes.io/")) {
        std::string role = it.key().substr(std::string("node-role.kubernetes.io/").size());
        if (!role.empty()) roles.push_back(role);
      } else if (it.key() == "kubernetes.io/role" && it->is_string()) {
        roles.push_back(it->get<std::string>());
      }
    }
  }
  std::sort(roles.begin(), roles.end());
  std::string internal_ip;
  std::string external_ip;
  if (at(status, "addresses").is_array()) {
    for (const Json& a : at(status, "addresses")) {
      if (str(a, "type") == "InternalIP" && internal_ip.empty()) internal_ip = str(a, "address");
      if (str(a, "type") == "ExternalIP" && external_ip.empty()) external_ip = str(a, "address");
    }
  }
  const Json& info = at(status, "nodeInfo");
  auto unknown = [](std::string s) { return s.empty() ? std::string("<unknown>") : s; };
  return Json::array(
      {str(meta, "name"), join(conds, ","), roles.empty() ? "<none>" : join(roles, ","),
       age(str(meta, "creationTimestamp"), now), str(info, "kubeletVersion"), orNone(internal_ip),
       orNone(external_ip), unknown(str(info, "osImage")), unknown(str(info, "kernelVersion")),
       unknown(str(info, "containerRuntimeVersion"))});
}

Json serviceCells(const Json& svc, int64_t now) {
  const Json& meta = at(svc, "metadata");
  const Json& spec = at(svc, "spec");
  std::string type = str(spec, "type");
  if (type.empty()) type = "ClusterIP";
  std::string cluster_ip = str(spec, "clusterIP");
  std::vector<std::string> external;
  if (at(spec, "externalIPs").is_array()) {
    for (const Json& ip : at(spec, "externalIPs")) {
      if (ip.is_string()) external.push_back(ip.get<std::string>());
    }
  }
  std::string external_ip;
  if (type == "ExternalName") {
    external_ip = str(spec, "externalName");
  } else if (type == "LoadBalancer") {
    std::vector<std::string> lb;
    const Json& ingress = at(at(at(svc, "status"), "loadBalancer"), "ingress");
    if (ingress.is_array()) {
      for (const Json& i : ingress) {
        std::string v = str(i, "ip").empty() ? str(i, "hostname") : str(i, "ip");
        if (!v.empty()) lb.push_back(v);
      }
    }
    for (auto& e : external) lb.push_back(e);
    external_ip = lb.empty() ? "<pending>" : join(lb, ",");
  } else {
    external_ip = external.empty() ? "<none>" : join(external, ",");
  }
  std::vector<std::string> ports;
  if (at(spec, "ports").is_array()) {
    for (const Json& p : at(spec, "ports")) {
      std::string proto = str(p, "protocol");
      if (proto.empty()) proto = "TCP";
      std::string s = std::to_string(num(p, "port"));
      if (num(p, "nodePort") != 0) s += ":" + std::to_string(num(p, "nodePort"));
      ports.push_back(s + "/" + proto);
    }
  }
  return Json::array({str(meta, "name"), type, orNone(cluster_ip), external_ip,
                      ports.empty() ? "<none>" : join(ports, ","),
                      age(str(meta, "creationTimestamp"), now), formatMap(at(spec, "selector"))});
}

Json eventCells(const Json& ev, int64_t now) {
  const Json& meta = at(ev, "metadata");
  std::string first = age(str(ev, "firstTimestamp"), now);
  if (str(ev, "firstTimestamp").empty()) first = age(str(ev, "eventTime"), now);
  std::string last = str(ev, "lastTimestamp").empty() ? first : age(str(ev, "lastTimestamp"), now);
  int64_t count = num(ev, "count");
  const Json& series = at(ev, "series");
  if (series.is_object()) {
    last = age(str(series, "lastObservedTime"), now);
    count = num(series, "count");
  } else if (count == 0) {
    count = 1;
  }
  const Json& involved = at(ev, "involvedObject");
  std::string kind = str(involved, "kind");
  std::transform(kind.begin(), kind.end(), kind.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  std::string target = str(involved, "name").empty() ? kind : kind + "/" + str(involved, "name");
  const Json& source = at(ev, "source");
  std::string src = str(source, "component");
  if (src.empty()) {
    src = str(ev, "reportingController");
    if (!str(ev, "reportingInstance").empty()) src += ", " + str(ev, "reportingInstance");
  } else if (!str(source, "host").empty()) {
    src += ", " + str(source, "host");
  }
  std::string message = str(ev, "message");
  while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back()))) {
    message.pop_back();
  }
  return Json::array({last, str(ev, "type"), str(ev, "reason"), target, str(involved, "fieldPath"),
                      src, message, first, count, str(meta, "name")});
}

Json deploymentCells(const Json& d, int64_t now) {
  const Json& meta = at(d, "metadata");
  const Json& spec = at(d, "spec");
  const Json& status = at(d, "status");
  int64_t desired = at(spec, "replicas").is_number_integer() ? num(spec, "replicas") : 1;
  std::vector<std::string> names;
  std::vector<std::string> images;
  const Json& containers = at(at(at(spec, "template"), "spec"), "containers");
  if (containers.is_array()) {
    for (const Json& c : containers) {
      names.push_back(str(c, "name"));
      images.push_back(str(c, "image"));
    }
  }
  return Json::array({str(meta, "name"),
                      std::to_string(num(status, "readyReplicas")) + "/" + std::to_string(desired),
                      num(status, "updatedReplicas"), num(status, "availableReplicas"),
                      age(str(meta, "creationTimestamp"), now), join(names, ","), join(images, ","),
                      formatLabelSelector(at(spec, "selector"))});
}

// A simple JSONPath (".spec.color") lookup, as additionalPrinterColumns use.
const Json* lookupPath(const Json& obj, std::string_view path) {
  const Json* cur = &obj;
  size_t start = path.starts_with(".") ? 1 : 0;
  while (start < path.size()) {
    size_t dot = path.find('.', start);
    std::string key(path.substr(start, dot == std::string_view::npos ? path.npos : dot - start));
    if (!cur->is_object()) return nullptr;
    auto it = cur->find(key);
    if (it == cur->end()) return nullptr;
    cur = &*it;
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return cur;
}

Json customCells(const ResourceType& type, const Json& obj, int64_t now) {
  Json cells = Json::array({str(at(obj, "metadata"), "name")});
  for (size_t i = 1; i < type.columns.size(); ++i) {
    const ColumnDef& c = type.columns[i];
    const Json* v = lookupPath(obj, c.json_path);
    if (v == nullptr || v->is_null()) {
      cells.push_back(nullptr);
    } else if (c.type == "string") {
      cells.push_back(v->is_string() ? v->get<std::string>() : v->dump());
    } else if (c.type == "integer") {
      if (v->is_number()) {
        cells.push_back(v->is_number_float() ? static_cast<int64_t>(v->get<double>())
                                             : v->get<int64_t>());
      } else {
        cells.push_back(nullptr);
      }
    } else if (c.type == "date") {
      cells.push_back(v->is_string() ? Json(age(v->get<std::string>(), now)) : Json());
    } else {
      cells.push_back(*v);
    }
  }
  return cells;
}

}  // namespace

Json TablePrinter::columnDefinitions(const ResourceType& type) {
  Json out = Json::array();
  for (const ColumnDef& c : type.columns) {
    out.push_back(Json{{"name", c.name},
                       {"type", c.type},
                       {"format", c.format},
                       {"description", c.description},
                       {"priority", c.priority}});
  }
  return out;
}

Json TablePrinter::cells(const ResourceType& type, const Json& object, int64_t now) {
  if (type.custom) return customCells(type, object, now);
  const Json& meta = at(object, "metadata");
  const std::string& r = type.resource;
  if (r == "pods") return podCells(object, now, nullptr);
  if (r == "nodes") return nodeCells(object, now);
  if (r == "services") return serviceCells(object, now);
  if (r == "events") return eventCells(object, now);
  if (r == "deployments") return deploymentCells(object, now);
  const std::string created = str(meta, "creationTimestamp");
  if (r == "namespaces") {
    return Json::array({str(meta, "name"), str(at(object, "status"), "phase"), age(created, now)});
  }
  if (r == "configmaps") {
    int64_t n = (at(object, "data").is_object() ? at(object, "data").size() : 0) +
                (at(object, "binaryData").is_object() ? at(object, "binaryData").size() : 0);
    return Json::array({str(meta, "name"), n, age(created, now)});
  }
  if (r == "leases") {
    return Json::array(
        {str(meta, "name"), str(at(object, "spec"), "holderIdentity"), age(created, now)});
  }
  if (r == "secrets") {
    int64_t n = at(object, "data").is_object() ? at(object, "data").size() : 0;
    return Json::array({str(meta, "name"), str(object, "type"), n, age(created, now)});
  }
  return Json::array({str(meta, "name"), age(created, now)});
}

Json TablePrinter::partialMetadata(const Json& object, std::string_view meta_version) {
  return Json{
      {"kind", "PartialObjectMetadata"},
      {"apiVersion", "meta.k8s.io/" + std::string(meta_version)},
      {"metadata", at(object, "metadata").is_object() ? at(object, "metadata") : Json::object()}};
}

Json TablePrinter::row(const ResourceType& type, const Json& object, const TableOptions& opts,
                       int64_t now) {
  Json conditions;
  Json row = Json::object();
  if (type.resource == "pods" && type.group.empty()) {
    row["cells"] = podCells(object, now, &conditions);
  } else {
    row["cells"] = cells(type, object, now);
  }
  if (!conditions.is_null()) row["conditions"] = std::move(conditions);
  switch (opts.include) {
    case IncludeObject::kNone:
      row["object"] = nullptr;
      break;
    case IncludeObject::kMetadata:
      row["object"] = partialMetadata(object, opts.meta_version);
      break;
    case IncludeObject::kObject:
      row["object"] = object;
      break;
  }
  return row;
}

std::string TablePrinter::table(const ResourceType& type, const std::vector<const Json*>& objects,
                                const Json& list_meta, const TableOptions& opts, int64_t now) {
  Json head = Json::object();
  head["kind"] = "Table";
  head["apiVersion"] = "meta.k8s.io/" + opts.meta_version;
  head["metadata"] = list_meta;
  head["columnDefinitions"] = opts.no_headers ? Json() : columnDefinitions(type);
  std::string out = dumpJson(head);
  out.pop_back();  // '}': rows are appended one by one, without building one big document
  out.append(",\"rows\":[");
  for (size_t i = 0; i < objects.size(); ++i) {
    if (i) out.push_back(',');
    out.append(dumpJson(row(type, *objects[i], opts, now)));
  }
  out.append("]}");
  return out;
}

std::string TablePrinter::humanDuration(int64_t seconds) {
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 60 * 2) return std::to_string(seconds) + "s";
  int64_t minutes = seconds / 60;
  if (minutes < 10) {
    int64_t s = seconds % 60;
    return s == 0 ? std::to_string(minutes) + "m"
                  : std::to_string(minutes) + "m" + std::to_string(s) + "s";
  }
  if (minutes < 60 * 3) return std::to_string(minutes) + "m";
  int64_t hours = seconds / 3600;
  if (hours < 8) {
    int64_t m = minutes % 60;
    return m == 0 ? std::to_string(hours) + "h"
                  : std::to_string(hours) + "h" + std::to_string(m) + "m";
  }
  if (hours < 48) return std::to_string(hours) + "h";
  if (hours < 24 * 8) {
    int64_t h = hours % 24;
    return h == 0 ? std::to_string(hours / 24) + "d"
                  : std::to_string(hours / 24) + "d" + std::to_string(h) + "h";
  }
  if (hours < 24 * 365 * 2) return std::to_string(hours / 24) + "d";
  if (hours < 24 * 365 * 8) {
    int64_t dy = (hours / 24) % 365;
    return dy == 0 ? std::to_string(hours / 24 / 365) + "y"
                   : std::to_string(hours / 24 / 365) + "y" + std::to_string(dy) + "d";
  }
  return std::to_string(hours / 24 / 365) + "y";
}

int64_t TablePrinter::parseTimestamp(std::string_view text) {
  auto t = k8s::parseRfc3339(text);
  return t ? t->seconds : -1;
}

}  // namespace kubehub::standin
