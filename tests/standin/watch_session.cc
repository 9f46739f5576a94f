#include "tests/standin/watch_session.h"

#include "tests/standin/api_error.h"
#include "tests/standin/field_labels.h"

namespace kubehub::standin {
namespace {

constexpr size_t kBatch = 1000;

const std::string& metaField(const Json& obj, const char* key) {
  static const std::string kEmpty;
  auto m = obj.find("metadata");
  if (m == obj.end() || !m->is_object()) return kEmpty;
  auto it = m->find(key);
  if (it == m->end() || !it->is_string()) return kEmpty;
  return it->get_ref<const std::string&>();
}

}  // namespace

WatchSession::WatchSession(ObjectStore& store, WatchOptions options)
    : store_(store), options_(std::move(options)), type_(store.registry().type(options_.type)) {
  if (options_.initial_state) {
    ListSpec spec;
    spec.ns = options_.ns;
    spec.name = options_.fields.requiresExactMatch("metadata.name");
    spec.predicate = [this](const StoredObject& o) { return matches(o.json); };
    auto listed = store_.list(options_.type, spec);
    if (listed.ok()) {
      initial_ = std::move(listed->items);
      cursor_ = listed->rv;
      initial_pending_ = true;
    } else {
      start_error_ = listed.status();
    }
  } else {
    cursor_ = options_.from_rv;
  }
}

bool WatchSession::matches(const Json& object) const {
  if (type_.namespaced && !options_.ns.empty() && metaField(object, "namespace") != options_.ns) {
    return false;
  }
  if (!options_.labels.empty()) {
    const Json* labels = nullptr;
    auto m = object.find("metadata");
    if (m != object.end() && m->is_object()) {
      auto l = m->find("labels");
      if (l != m->end()) labels = &*l;
    }
    if (!options_.labels.matches(labels)) return false;
  }
  return options_.fields.empty() || matchesFields(options_.fields, object);
}

std::string WatchSession::eventLine(const char* type, const Json* json, const std::string* encoded,
                                    int64_t now) {
  std::string line = "{\"type\":\"";
  line.append(type);
  line.append("\",\"object\":");
  if (options_.table) {
    TableOptions opts = options_.table_options;
    opts.no_headers = headers_sent_;
    headers_sent_ = true;
    Json meta = {{"resourceVersion", metaField(*json, "resourceVersion")}};
    line.append(TablePrinter::table(type_, {json}, meta, opts, now));
  } else if (options_.partial) {
    line.append(
        dumpJson(TablePrinter::partialMetadata(*json, options_.table_options.meta_version)));
  } else if (encoded != nullptr) {
    line.append(*encoded);
  } else {
    line.append(dumpJson(*json));
  }
  line.append("}\n");
  return line;
}

std::string WatchSession::bookmarkLine(uint64_t rv, bool initial_end, int64_t now) {
  Json obj = Json::object();
  obj["kind"] = type_.kind;
  obj["apiVersion"] = type_.apiVersion();
  obj["metadata"] = {{"resourceVersion", std::to_string(rv)}, {"creationTimestamp", nullptr}};
  if (initial_end) obj["metadata"]["annotations"] = {{"k8s.io/initial-events-end", "true"}};
  return eventLine("BOOKMARK", &obj, nullptr, now);
}

std::string WatchSession::errorLine(const absl::Status& status) {
  finished_ = true;
  return "{\"type\":\"ERROR\",\"object\":" + errorStatusJson(status).dump() + "}\n";
}

std::string WatchSession::poll(int64_t now) {
  std::string out;
  if (finished_) return out;
  if (!start_error_.ok()) return errorLine(start_error_);
  if (initial_pending_) {
    initial_pending_ = false;
    for (const ObjectPtr& o : initial_) out.append(eventLine("ADDED", &o->json, &o->encoded, now));
    initial_.clear();
    initial_.shrink_to_fit();
    if (options_.initial_events_end_bookmark) out.append(bookmarkLine(cursor_, true, now));
  }
  while (true) {
    auto batch = store_.eventsAfter(options_.type, cursor_, kBatch);
    if (!batch.ok()) {
      out.append(errorLine(batch.status()));
      return out;
    }
    for (const StoreEvent& ev : batch->events) {
      cursor_ = ev.rv;
      const Json& cur = ev.object->json;
      bool cur_passes = ev.type != EventType::kDeleted && matches(cur);
      bool old_passes = ev.prev != nullptr && matches(ev.prev->json);
      if (ev.type == EventType::kDeleted) {
        if (old_passes) out.append(eventLine("DELETED", &cur, &ev.object->encoded, now));
      } else if (cur_passes && !old_passes) {
        out.append(eventLine("ADDED", &cur, &ev.object->encoded, now));
      } else if (cur_passes && old_passes) {
        out.append(eventLine("MODIFIED", &cur, &ev.object->encoded, now));
      } else if (!cur_passes && old_passes) {
        // The object left the selection: DELETED with its previous content at this revision.
        Json gone = ev.prev->json;
        gone["metadata"]["resourceVersion"] = std::to_string(ev.rv);
        out.append(eventLine("DELETED", &gone, nullptr, now));
      }
    }
    if (batch->events.size() < kBatch) {
      cursor_ = std::max(cursor_, batch->rv);
      break;
    }
  }
  return out;
}

std::string WatchSession::bookmark(int64_t now) {
  if (finished_) return {};
  std::string out = poll(now);
  if (finished_) return out;
  out.append(bookmarkLine(cursor_, false, now));
  return out;
}

}  // namespace kubehub::standin
