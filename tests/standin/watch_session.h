#pragma once
/// One watch's event logic, free of I/O: the initial ADDED events (or the resume point), the
/// filtered event stream with selector transitions (an object that stops matching arrives as
/// DELETED, one that starts matching as ADDED, like the real watch cache), bookmarks, the
/// 410 ERROR event for a resourceVersion older than the window, and JSON or Table framing
/// (column definitions only on the first Table event). Not thread-safe: one owner polls it.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/k8s/field_selector.h"
#include "common/k8s/label_selector.h"
#include "tests/standin/object_store.h"
#include "tests/standin/table_printer.h"

namespace kubehub::standin {

struct WatchOptions {
  int type = 0;
  std::string ns;  // empty: all namespaces
  k8s::LabelSelector labels;
  k8s::FieldSelector fields;
  bool table = false;
  TableOptions table_options;
  /// Objects as PartialObjectMetadata (metadata-only clients); uses table_options.meta_version.
  bool partial = false;
  /// true: start with ADDED events for the current objects; false: resume after `from_rv`.
  bool initial_state = true;
  uint64_t from_rv = 0;
  /// sendInitialEvents=true: end the initial events with a BOOKMARK annotated
  /// k8s.io/initial-events-end.
  bool initial_events_end_bookmark = false;
};

class WatchSession {
 public:
  WatchSession(ObjectStore& store, WatchOptions options);

  /// Newline-terminated events that are ready now (possibly none). After an ERROR event the
  /// session is finished.
  std::string poll(int64_t now);
  /// A BOOKMARK event at the resourceVersion everything up to which has been sent.
  std::string bookmark(int64_t now);
  bool finished() const { return finished_; }
  uint64_t cursor() const { return cursor_; }

 private:
  bool matches(const Json& object) const;
  std::string eventLine(const char* type, const Json* json, const std::string* encoded,
                        int64_t now);
  std::string bookmarkLine(uint64_t rv, bool initial_end, int64_t now);
  std::string errorLine(const absl::Status& status);

  ObjectStore& store_;
  WatchOptions options_;
  const ResourceType& type_;
  uint64_t cursor_ = 0;
  bool initial_pending_ = false;
  std::vector<ObjectPtr> initial_;
  bool headers_sent_ = false;
  bool finished_ = false;
  absl::Status start_error_;
};

}  // namespace kubehub::standin
