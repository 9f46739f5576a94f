#pragma once
/// The audit log: every call that changes something or issues a credential, whatever its
/// outcome. Thread-safe.

#include <vector>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

class Audit {
 public:
  explicit Audit(PgPool& pool) : pool_(pool) {}

  absl::Status insertAudit(const AuditRecord& a);
  /// The latest `limit` records, newest first.
  absl::StatusOr<std::vector<AuditRecord>> listAudit(int limit);

 private:
  PgPool& pool_;
};

}  // namespace kubehub::metaserver
