#pragma once
/// Server-side printing: `meta.k8s.io/v1` Tables with the columns and cells the real API
/// server prints for each served type (the custom resource's printer columns included), and
/// the PartialObjectMetadata form of objects. Pure; `now` is passed in so ages are testable.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/standin/json_types.h"
#include "tests/standin/resource_types.h"

namespace kubehub::standin {

enum class IncludeObject { kNone, kMetadata, kObject };

struct TableOptions {
  IncludeObject include = IncludeObject::kMetadata;
  /// "v1" or "v1beta1": the meta.k8s.io version asked for.
  std::string meta_version = "v1";
  /// Watch events after the first omit the column definitions (null), as the real server does.
  bool no_headers = false;
};

class TablePrinter {
 public:
  static Json columnDefinitions(const ResourceType& type);
  /// The cells of one object's row (every column, priority > 0 included, as the server does).
  static Json cells(const ResourceType& type, const Json& object, int64_t now);
  /// One row: cells, conditions where the real printer sets them, and object per `include`.
  static Json row(const ResourceType& type, const Json& object, const TableOptions& opts,
                  int64_t now);
  /// A whole Table. `list_meta` is the Table's metadata (resourceVersion, continue, ...).
  static std::string table(const ResourceType& type, const std::vector<const Json*>& objects,
                           const Json& list_meta, const TableOptions& opts, int64_t now);
  /// PartialObjectMetadata of an object (kind/apiVersion of meta.k8s.io).
  static Json partialMetadata(const Json& object, std::string_view meta_version);

  /// Kubernetes' HumanDuration ("5s", "3m20s", "2d4h", ...).
  static std::string humanDuration(int64_t seconds);
  /// Seconds since the epoch of an RFC 3339 timestamp, or -1.
  static int64_t parseTimestamp(std::string_view text);
};

}  // namespace kubehub::standin
