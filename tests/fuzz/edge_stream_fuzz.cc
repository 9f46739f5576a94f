// Fuzzes how the hub's cache reads the edge: the watch stream splitter, LIST answers (Tables
// with objects, plain lists), watch events, Age cells and the durations in them. No crash, no
// exception, no UB; the splitter yields the same values however the stream is cut; every
// object accepted has its metadata and list-item runs inside its JSON, and re-encodes (as
// object, list item, Table row and watch event) to valid JSON.
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "hub/cache/json_stream.h"
#include "hub/cache/object_codec.h"

namespace {

using namespace kubehub::hub::cache;

void checkJson(std::string_view text) {
  if (!nlohmann::json::accept(text)) std::abort();
}

void checkObject(const TypeInfo& type, const CachedObject& o) {
  if (o.metadata_offset > o.json.size() || o.metadata_length > o.json.size() - o.metadata_offset) {
    std::abort();
  }
  if (!nlohmann::json::parse(o.metadata(), nullptr, false).is_object()) std::abort();
  if (o.item_run_count > o.item_runs.size()) std::abort();
  for (size_t i = 0; i < o.item_run_count; ++i) {
    const auto& run = o.item_runs[i];
    if (run.offset > o.json.size() || run.length > o.json.size() - run.offset) std::abort();
  }
  if (o.age_column >= static_cast<int>(o.cells.size())) std::abort();
  std::string item;
  o.appendItem(&item);
  checkJson(item);
  for (bool table : {false, true}) {
    Encoding enc;
    enc.table = table;
    enc.include_object = table ? "Object" : "Metadata";
    enc.now_unix = o.printed_unix + 90061;
    checkJson(encodeObject(type, o, enc, "[]"));
  }
}

void fuzzSplitter(std::string_view in) {
  JsonStreamSplitter whole(1 << 16);
  std::vector<std::string> a;
  absl::Status sa = whole.feed(in, &a);
  JsonStreamSplitter pieces(1 << 16);
  std::vector<std::string> b;
  const size_t cut = in.empty() ? 0 : static_cast<unsigned char>(in[0]) * in.size() / 256;
  absl::Status sb = pieces.feed(in.substr(0, cut), &b);
  if (sb.ok()) sb = pieces.feed(in.substr(cut), &b);
  if (sa.ok() && sb.ok() && (a != b || whole.pending() != pieces.pending())) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view in(reinterpret_cast<const char*>(data), size);
  static const TypeInfo kType{"apps", "v1", "deployments", "Deployment", true};
  fuzzSplitter(in);
  const int age = ageColumn(in);
  for (const TypeInfo* type : {static_cast<const TypeInfo*>(nullptr), &kType}) {
    if (auto list = parseEdgeList(in, -1, type); list.ok()) {
      if (!list->columns.empty()) checkJson(list->columns);
      for (const auto& o : list->objects) checkObject(kType, *o);
    }
    if (auto e = parseEdgeEvent(in, age, type); e.ok()) {
      if (e->kind == EdgeEvent::Kind::kObject) {
        if (e->object == nullptr) std::abort();
        checkObject(kType, *e->object);
        Encoding enc;
        checkJson(
            encodeWatchEvent(kType, Event{e->type, e->object, e->rv, nullptr}, enc, "[]", false));
      } else if (e->kind == EdgeEvent::Kind::kError) {
        checkJson(e->status);
      }
    }
  }
  // Durations as printed in cells: what parses prints back to a duration of the same length
  // when it is one humanDuration makes.
  if (int64_t secs = parseHumanDuration(in); secs >= 0) {
    if (parseHumanDuration(humanDuration(secs)) < 0) std::abort();
  }
  std::string cell = nlohmann::json(std::string(in))
                         .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  checkJson(ageCell(cell, 3725));
  return 0;
}
