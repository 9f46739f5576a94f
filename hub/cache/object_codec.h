#pragma once
/// Turning what the edge sends (Tables with full objects, watch events) into CachedObjects, and
/// cached objects back into the API server's wire formats: objects, typed lists, Tables (with
/// PartialObjectMetadata or full objects) and watch events. Age cells are recomputed at serve
/// time from creationTimestamp, as the API server prints them. Pure.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "hub/cache/resource_store.h"
#include "hub/cache/selection.h"

namespace kubehub::hub::cache {

/// The resourceVersion of the object whose JSON starts with `prefix` (an API server's answer
/// to a write: kind, apiVersion, then metadata, whose resourceVersion comes before its labels,
/// annotations and managedFields), or nothing when the prefix holds none (a Status, a cut that
/// ends before it). Only the first "resourceVersion" member counts.
std::optional<uint64_t> leadingResourceVersion(std::string_view prefix);

/// A LIST answer from the edge, as a Table with includeObject=Object (or a plain list).
struct EdgeList {
  std::vector<ObjectPtr> objects;
  uint64_t rv = 0;
  std::string continue_token;
  /// columnDefinitions as the edge sent them (compact JSON array), empty for a plain list.
  std::string columns;
  bool is_table = false;
};

/// One watch event from the edge.
struct EdgeEvent {
  enum class Kind { kObject, kBookmark, kError } kind = Kind::kObject;
  EventType type = EventType::kAdded;
  ObjectPtr object;
  uint64_t rv = 0;
  /// kError: the Status object (compact JSON) and its code.
  std::string status;
  int code = 0;
  /// Column definitions when this event carried them.
  std::string columns;
};

/// Index of the Age column (a creationTimestamp printed relative to now), or -1.
int ageColumn(std::string_view columns_json);

/// `type`, when given, supplies kind/apiVersion to objects that arrive without them (plain list
/// items), so that a GET from the cache answers with them as the API server does.
absl::StatusOr<EdgeList> parseEdgeList(std::string_view json, int age_column,
                                       const TypeInfo* type = nullptr);
absl::StatusOr<EdgeEvent> parseEdgeEvent(std::string_view json, int age_column,
                                         const TypeInfo* info = nullptr);

/// The API server's rendering of a duration ("45s", "3m12s", "5h", "12d", "2y40d").
std::string humanDuration(int64_t seconds);
/// Seconds of a duration in that rendering, or -1.
int64_t parseHumanDuration(std::string_view text);
/// A printed cell (JSON) with every "(<duration> ago)" moved on by `elapsed` seconds.
std::string ageCell(const std::string& cell_json, int64_t elapsed);

std::string encodeObject(const TypeInfo& type, const CachedObject& o, const Encoding& enc,
                         const std::string& columns);
std::string encodeList(const TypeInfo& type, const ListPage& page, const Encoding& enc,
                       const std::string& columns);

/// The same answer produced piece by piece, so that a large LIST is written to the client as it
/// is encoded instead of being built as one giant string.
class ListEncoder {
 public:
  ListEncoder(const TypeInfo& type, const ListPage& page, const Encoding& enc,
              const std::string& columns)
      : type_(type), page_(page), enc_(enc), columns_(columns) {}
  std::string head() const;
  /// Appends items until about `budget` bytes were added; false once all are out.
  bool next(std::string* out, size_t budget);
  std::string tail() const;

 private:
  const TypeInfo& type_;
  const ListPage& page_;
  const Encoding& enc_;
  const std::string& columns_;
  size_t index_ = 0;
};
/// `with_columns`: the first event of a Table watch carries the column definitions.
std::string encodeWatchEvent(const TypeInfo& type, const Event& e, const Encoding& enc,
                             const std::string& columns, bool with_columns);
std::string encodeBookmark(const TypeInfo& type, uint64_t rv, const Encoding& enc,
                           bool initial_events_end);
std::string encodeErrorEvent(int code, std::string_view reason, std::string_view message);

}  // namespace kubehub::hub::cache
