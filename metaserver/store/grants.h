#pragma once
/// Grants: which clusters (by name or selector) a tenant, or one user of it, may reach and
/// with which verbs (common/auth/grant.h). Thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

class Grants {
 public:
  explicit Grants(PgPool& pool) : pool_(pool) {}

  /// NotFound for a missing tenant or user; InvalidArgument for a user of another tenant.
  absl::StatusOr<GrantRecord> createGrant(const auth::Grant& g);
  absl::StatusOr<Listed<GrantRecord>> listGrants(const std::string& tenant, const std::string& user,
                                                 const PageQuery& page = {});
  absl::StatusOr<GrantRecord> getGrant(const std::string& name);
  absl::Status deleteGrant(const std::string& name);

 private:
  PgPool& pool_;
};

}  // namespace kubehub::metaserver
