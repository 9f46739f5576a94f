#include "hub/cache/object_codec.h"

#include <ctime>
#include <nlohmann/json.hpp>

#include "absl/strings/numbers.h"
#include "common/k8s/rfc3339.h"

namespace kubehub::hub::cache {

namespace {

using Json = nlohmann::ordered_json;

std::string dump(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

/// The string member `key` of an object, "" when absent or of another type (what the edge sends
/// is untrusted; Json::value() would throw on the wrong type).
std::string_view stringMember(const Json& o, const char* key) {
  if (!o.is_object()) return {};
  auto it = o.find(key);
  if (it == o.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

bool parseRv(const Json& metadata, uint64_t* rv) {
  if (!metadata.is_object()) return false;
  auto it = metadata.find("resourceVersion");
  if (it == metadata.end() || !it->is_string()) return false;
  return absl::SimpleAtoi(it->get_ref<const std::string&>(), rv);
}

/// "2026-11-22T21:57:49Z" (any offset) -> unix seconds, or 0.
int64_t parseTimestamp(std::string_view s) {
  auto t = k8s::parseRfc3339(s);
  return t ? t->seconds : 0;
}

/// Serialises `object` member by member into `o->json` and notes where `metadata` and the
/// members other than kind/apiVersion lie, so that no read has to parse the object again.
/// Adds kind/apiVersion from `type` in front when the edge left them out (plain list items).
void serialise(const Json& object, const TypeInfo* type, CachedObject* o) {
  std::string& out = o->json;
  out.push_back('{');
  bool first = true;
  auto member = [&](const std::string& key, const std::string& value_text) {
    if (!first) out.push_back(',');
    first = false;
    out += dump(Json(key));
    out.push_back(':');
    out += value_text;
  };
  if (type != nullptr && !object.contains("kind") && !object.contains("apiVersion")) {
    member("kind", dump(Json(type->kind)));
    member("apiVersion", dump(Json(type->groupVersion())));
  }
  bool last_kept = false;  // whether the member before this one belongs to the item form
  for (const auto& [key, value] : object.items()) {
    size_t member_start = out.size() + (first ? 0 : 1);
    std::string text = dump(value);
    member(key, text);
    if (key == "metadata") {
      o->metadata_offset = out.size() - text.size();
      o->metadata_length = text.size();
    }
    bool kept = key != "kind" && key != "apiVersion";
    if (kept && last_kept && o->item_run_count > 0) {
      // Adjacent to the previous kept member: one run, the comma between them included.
      auto& run = o->item_runs[o->item_run_count - 1];
      run.length = static_cast<uint32_t>(out.size() - run.offset);
    } else if (kept && o->item_run_count < o->item_runs.size()) {
      // Only kind and apiVersion are left out and keys are unique: at most three runs.
      o->item_runs[o->item_run_count++] = {static_cast<uint32_t>(member_start),
                                           static_cast<uint32_t>(out.size() - member_start)};
    }
    last_kept = kept;
  }
  out.push_back('}');
}

absl::StatusOr<ObjectPtr> fromObject(const Json& object, const Json* cells, int age_column,
                                     const TypeInfo* type) {
  if (!object.is_object() || !object.contains("metadata") || !object["metadata"].is_object()) {
    return absl::InvalidArgumentError("object without metadata");
  }
  const Json& md = object["metadata"];
  auto o = std::make_shared<CachedObject>();
  if (!md.contains("name") || !md["name"].is_string()) {
    return absl::InvalidArgumentError("object without metadata.name");
  }
  o->name = md["name"].get<std::string>();
  if (md.contains("namespace") && md["namespace"].is_string())
    o->ns = md["namespace"].get<std::string>();
  if (!parseRv(md, &o->rv)) {
    return absl::InvalidArgumentError("object without a numeric metadata.resourceVersion");
  }
  if (md.contains("labels") && md["labels"].is_object()) {
    for (const auto& [k, v] : md["labels"].items()) {
      if (v.is_string()) o->labels.emplace_back(k, v.get<std::string>());
    }
  }
  if (md.contains("creationTimestamp") && md["creationTimestamp"].is_string()) {
    o->created_unix = parseTimestamp(md["creationTimestamp"].get<std::string>());
  }
  serialise(object, type, o.get());
  if (o->json.size() > UINT32_MAX) return absl::InvalidArgumentError("object too large");
  o->printed_unix = std::time(nullptr);
  if (cells != nullptr && cells->is_array()) {
    o->cells.reserve(cells->size());
    for (const auto& c : *cells) o->cells.push_back(dump(c));
    o->age_column = age_column < static_cast<int>(o->cells.size()) ? age_column : -1;
  }
  return ObjectPtr(std::move(o));
}

std::string quote(std::string_view s) { return dump(Json(std::string(s))); }

std::string cellsJson(const CachedObject& o, int64_t now) {
  std::string out = "[";
  for (size_t i = 0; i < o.cells.size(); ++i) {
    if (i > 0) out += ',';
    if (static_cast<int>(i) == o.age_column) {
      out += quote(o.created_unix > 0 ? humanDuration(now - o.created_unix) : "<unknown>");
    } else if (o.printed_unix > 0 && now > o.printed_unix &&
               o.cells[i].find(" ago)") != std::string::npos) {
      out += ageCell(o.cells[i], now - o.printed_unix);
    } else {
      out += o.cells[i];
    }
  }
  out += ']';
  return out;
}

void appendRow(std::string& out, const CachedObject& o, const Encoding& enc) {
  out += "{\"cells\":";
  out += cellsJson(o, enc.now_unix);
  if (enc.include_object == "Object") {
    out += ",\"object\":";
    out += o.json;
  } else if (enc.include_object == "None") {
    out += ",\"object\":null";
  } else {
    out +=
        ",\"object\":{\"kind\":\"PartialObjectMetadata\",\"apiVersion\":\"meta.k8s.io/"
        "v1\",\"metadata\":";
    out += o.metadata();
    out += '}';
  }
  out += '}';
}

std::string tableHead(uint64_t rv, const std::string& cont, size_t remaining,
                      const std::string& columns) {
  std::string out =
      "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":{\"resourceVersion\":\"";
  out += std::to_string(rv);
  out += '"';
  if (!cont.empty()) {
    out += ",\"continue\":";
    out += quote(cont);
    out += ",\"remainingItemCount\":";
    out += std::to_string(remaining);
  }
  out += "},\"columnDefinitions\":";
  out += columns.empty() ? "null" : columns;
  out += ",\"rows\":[";
  return out;
}

}  // namespace

std::string humanDuration(int64_t seconds) {
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return std::to_string(seconds) + "s";
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

int64_t parseHumanDuration(std::string_view text) {
  // Cells come from the edge: longer numbers or sums than any age printed (~30,000 years) are
  // not durations, and would overflow.
  constexpr size_t kMaxDigits = 9;
  constexpr int64_t kMaxSeconds = 1'000'000'000'000;
  if (text.empty()) return -1;
  int64_t total = 0;
  size_t i = 0;
  while (i < text.size()) {
    size_t start = i;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') ++i;
    if (i == start || i >= text.size() || i - start > kMaxDigits) return -1;
    int64_t n = 0;
    for (size_t k = start; k < i; ++k) n = n * 10 + (text[k] - '0');
    switch (text[i++]) {
      case 's':
        total += n;
        break;
      case 'm':
        total += n * 60;
        break;
      case 'h':
        total += n * 3600;
        break;
      case 'd':
        total += n * 86400;
        break;
      case 'y':
        total += n * 365 * 86400;
        break;
      default:
        return -1;
    }
    if (total > kMaxSeconds) return -1;
  }
  return total;
}

std::string ageCell(const std::string& cell_json, int64_t elapsed) {
  Json cell = Json::parse(cell_json, nullptr, false);
  if (!cell.is_string() || elapsed <= 0) return cell_json;
  std::string s = cell.get<std::string>();
  std::string out;
  size_t pos = 0;
  for (;;) {
    size_t open = s.find('(', pos);
    size_t ago = open == std::string::npos ? std::string::npos : s.find(" ago)", open);
    if (ago == std::string::npos) break;
    int64_t secs = parseHumanDuration(std::string_view(s).substr(open + 1, ago - open - 1));
    out += s.substr(pos, open + 1 - pos);
    out += secs >= 0 ? humanDuration(secs + elapsed) : s.substr(open + 1, ago - open - 1);
    out += " ago)";
    pos = ago + 5;
  }
  out += s.substr(pos);
  return quote(out);
}

int ageColumn(std::string_view columns_json) {
  Json cols = Json::parse(columns_json, nullptr, false);
  if (!cols.is_array()) return -1;
  for (size_t i = 0; i < cols.size(); ++i) {
    const Json& c = cols[i];
    if (!c.is_object()) continue;
    // The API server's printers call it "Age" and describe it with creationTimestamp's doc.
    if (stringMember(c, "name") == "Age" && stringMember(c, "type") == "string" &&
        stringMember(c, "description").starts_with("CreationTimestamp")) {
      return static_cast<int>(i);
    }
  }
  return -1;
}

absl::StatusOr<EdgeList> parseEdgeList(std::string_view json, int age_column,
                                       const TypeInfo* type) {
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return absl::InvalidArgumentError("LIST answer is not JSON");
  EdgeList out;
  if (!j.contains("metadata") || !parseRv(j["metadata"], &out.rv)) {
    return absl::InvalidArgumentError("LIST answer without a numeric resourceVersion");
  }
  if (j["metadata"].contains("continue") && j["metadata"]["continue"].is_string()) {
    out.continue_token = j["metadata"]["continue"].get<std::string>();
  }
  if (stringMember(j, "kind") == "Table") {
    out.is_table = true;
    if (j.contains("columnDefinitions") && j["columnDefinitions"].is_array()) {
      out.columns = dump(j["columnDefinitions"]);
      if (age_column < 0) age_column = ageColumn(out.columns);
    }
    if (j.contains("rows") && j["rows"].is_array()) {
      for (const auto& row : j["rows"]) {
        if (!row.is_object() || !row.contains("object")) {
          return absl::InvalidArgumentError("Table row without its object (includeObject=Object)");
        }
        auto o = fromObject(row["object"], row.contains("cells") ? &row["cells"] : nullptr,
                            age_column, type);
        if (!o.ok()) return o.status();
        out.objects.push_back(std::move(*o));
      }
    }
    return out;
  }
  if (j.contains("items") && j["items"].is_array()) {
    for (const auto& item : j["items"]) {
      auto o = fromObject(item, nullptr, -1, type);
      if (!o.ok()) return o.status();
      out.objects.push_back(std::move(*o));
    }
  }
  return out;
}

absl::StatusOr<EdgeEvent> parseEdgeEvent(std::string_view json, int age_column,
                                         const TypeInfo* info) {
  Json j = Json::parse(json, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string() ||
      !j.contains("object") || !j["object"].is_object()) {
    return absl::InvalidArgumentError("malformed watch event");
  }
  EdgeEvent e;
  std::string type = j["type"].get<std::string>();
  const Json& obj = j["object"];
  if (type == "ERROR") {
    e.kind = EdgeEvent::Kind::kError;
    e.status = dump(obj);
    // An HTTP status code; anything else (a string, a float, out of range) reads as 0.
    if (auto code = obj.find("code"); code != obj.end() && code->is_number_integer() &&
                                      code->get<int64_t>() >= 0 && code->get<int64_t>() < 1000) {
      e.code = static_cast<int>(code->get<int64_t>());
    }
    return e;
  }
  if (type == "BOOKMARK") {
    e.kind = EdgeEvent::Kind::kBookmark;
    if (!obj.contains("metadata") || !parseRv(obj["metadata"], &e.rv)) {
      // A Table-wrapped bookmark may carry the version in its only row.
      if (obj.contains("rows") && obj["rows"].is_array() && !obj["rows"].empty() &&
          obj["rows"][0].contains("object") && obj["rows"][0]["object"].contains("metadata")) {
        parseRv(obj["rows"][0]["object"]["metadata"], &e.rv);
      }
    }
    if (e.rv == 0) return absl::InvalidArgumentError("BOOKMARK without a resourceVersion");
    return e;
  }
  if (type == "ADDED") {
    e.type = EventType::kAdded;
  } else if (type == "MODIFIED") {
    e.type = EventType::kModified;
  } else if (type == "DELETED") {
    e.type = EventType::kDeleted;
  } else {
    return absl::InvalidArgumentError("unknown watch event type " + type);
  }
  if (stringMember(obj, "kind") == "Table" && stringMember(obj, "apiVersion") == "meta.k8s.io/v1") {
    if (obj.contains("columnDefinitions") && obj["columnDefinitions"].is_array()) {
      e.columns = dump(obj["columnDefinitions"]);
      if (age_column < 0) age_column = ageColumn(e.columns);
    }
    if (!obj.contains("rows") || !obj["rows"].is_array() || obj["rows"].size() != 1 ||
        !obj["rows"][0].contains("object")) {
      return absl::InvalidArgumentError(
          "Table watch event without exactly one row with its object");
    }
    const Json& row = obj["rows"][0];
    auto o = fromObject(row["object"], row.contains("cells") ? &row["cells"] : nullptr, age_column,
                        info);
    if (!o.ok()) return o.status();
    e.object = std::move(*o);
  } else {
    auto o = fromObject(obj, nullptr, -1, info);
    if (!o.ok()) return o.status();
    e.object = std::move(*o);
  }
  e.rv = e.object->rv;
  return e;
}

std::string encodeObject(const TypeInfo& type, const CachedObject& o, const Encoding& enc,
                         const std::string& columns) {
  (void)type;
  if (!enc.table) return o.json;
  std::string out = tableHead(o.rv, "", 0, columns);
  appendRow(out, o, enc);
  out += "]}";
  return out;
}

std::string ListEncoder::head() const {
  if (enc_.table) return tableHead(page_.rv, page_.continue_token, page_.remaining, columns_);
  std::string out = "{\"kind\":";
  out += quote(type_.kind + "List");
  out += ",\"apiVersion\":";
  out += quote(type_.groupVersion());
  out += ",\"metadata\":{\"resourceVersion\":\"";
  out += std::to_string(page_.rv);
  out += '"';
  if (!page_.continue_token.empty()) {
    out += ",\"continue\":";
    out += quote(page_.continue_token);
    out += ",\"remainingItemCount\":";
    out += std::to_string(page_.remaining);
  }
  out += "},\"items\":[";
  return out;
}

bool ListEncoder::next(std::string* out, size_t budget) {
  size_t start = out->size();
  while (index_ < page_.items.size() && out->size() - start < budget) {
    if (index_ > 0) *out += ',';
    const CachedObject& o = *page_.items[index_++];
    if (enc_.table) {
      appendRow(*out, o, enc_);
    } else {
      if (enc_.items_have_type_meta) {
        *out += o.json;
      } else {
        o.appendItem(out);
      }
    }
  }
  return index_ < page_.items.size();
}

std::string ListEncoder::tail() const { return "]}"; }

std::string encodeList(const TypeInfo& type, const ListPage& page, const Encoding& enc,
                       const std::string& columns) {
  ListEncoder e(type, page, enc, columns);
  std::string out = e.head();
  size_t estimate = 256;
  for (const auto& o : page.items)
    estimate += (enc.table ? o->metadata_length + 64 : o->json.size()) + 1;
  out.reserve(estimate);
  while (e.next(&out, SIZE_MAX)) {
  }
  out += e.tail();
  return out;
}

std::string encodeWatchEvent(const TypeInfo& type, const Event& e, const Encoding& enc,
                             const std::string& columns, bool with_columns) {
  (void)type;
  std::string out = "{\"type\":\"";
  out += eventTypeName(e.type);
  out += "\",\"object\":";
  if (enc.table) {
    std::string head = tableHead(e.rv, "", 0, with_columns ? columns : std::string());
    out += head;
    appendRow(out, *e.object, enc);
    out += "]}";
  } else {
    out += e.object->json;
  }
  out += "}\n";
  return out;
}

std::string encodeBookmark(const TypeInfo& type, uint64_t rv, const Encoding& enc,
                           bool initial_events_end) {
  std::string md = "{\"resourceVersion\":\"" + std::to_string(rv) + "\"";
  if (initial_events_end) md += ",\"annotations\":{\"k8s.io/initial-events-end\":\"true\"}";
  md += '}';
  std::string out = "{\"type\":\"BOOKMARK\",\"object\":";
  if (enc.table) {
    out += "{\"kind\":\"Table\",\"apiVersion\":\"meta.k8s.io/v1\",\"metadata\":" + md +
           ",\"columnDefinitions\":null,\"rows\":null}";
  } else {
    out += "{\"kind\":" + quote(type.kind) + ",\"apiVersion\":" + quote(type.groupVersion()) +
           ",\"metadata\":" + md + "}";
  }
  out += "}\n";
  return out;
}

std::string encodeErrorEvent(int code, std::string_view reason, std::string_view message) {
  Json status = {{"kind", "Status"},
                 {"apiVersion", "v1"},
                 {"metadata", Json::object()},
                 {"status", "Failure"},
                 {"message", std::string(message)},
                 {"reason", std::string(reason)},
                 {"code", code}};
  return "{\"type\":\"ERROR\",\"object\":" + dump(status) + "}\n";
}

std::optional<uint64_t> leadingResourceVersion(std::string_view prefix) {
  static constexpr std::string_view kKey = "\"resourceVersion\":\"";
  size_t at = prefix.find(kKey);
  if (at == std::string_view::npos) return std::nullopt;
  std::string_view rest = prefix.substr(at + kKey.size());
  size_t end = rest.find('"');
  if (end == std::string_view::npos || end == 0 || end > 20) return std::nullopt;
  uint64_t rv = 0;
  for (char c : rest.substr(0, end)) {
    if (c < '0' || c > '9') return std::nullopt;
    uint64_t next = rv * 10 + static_cast<uint64_t>(c - '0');
    if (next / 10 != rv) return std::nullopt;  // over 64 bits
    rv = next;
  }
  return rv;
}

}  // namespace kubehub::hub::cache
