#pragma once
/// Who may use kubehub: tenants, their users (people and service accounts such as hubs) and
/// the bans on both. Deleting a user revokes its tokens (credentials.h). Thread-safe.

#include <string>

#include "absl/status/statusor.h"
#include "metaserver/model/records.h"
#include "metaserver/store/page.h"
#include "metaserver/store/pg.h"

namespace kubehub::metaserver {

class Identity {
 public:
  explicit Identity(PgPool& pool) : pool_(pool) {}

  // Tenants.
  absl::StatusOr<TenantRecord> createTenant(const TenantRecord& t);
  absl::StatusOr<Listed<TenantRecord>> listTenants(const PageQuery& page = {});
  absl::StatusOr<TenantRecord> getTenant(const std::string& name);
  /// Bans or lifts the ban of a tenant (all its users' tokens are refused while it is disabled).
  absl::StatusOr<TenantRecord> setTenantBan(const std::string& name, const BanPatch& ban);
  /// FailedPrecondition while the tenant still has users or grants.
  absl::Status deleteTenant(const std::string& name);

  // Users.
  absl::StatusOr<UserRecord> createUser(const UserRecord& u);
  absl::StatusOr<Listed<UserRecord>> listUsers(const std::string& tenant,  // "" = all
                                               const PageQuery& page = {});
  absl::StatusOr<UserRecord> getUser(const std::string& name);
  absl::StatusOr<UserRecord> setUserBan(const std::string& name, const BanPatch& ban);
  /// Deletes the user's grants and revokes every live token of theirs.
  absl::Status deleteUser(const std::string& name);

  /// Every disabled user, tenant and cluster: one statement over partial indexes, cheap enough
  /// for every hub to poll twice a second.
  absl::StatusOr<BanList> bans();

 private:
  PgPool& pool_;
};

}  // namespace kubehub::metaserver
