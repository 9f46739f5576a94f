-- User and tenant bans. A disabled user's or tenant's tokens stay valid cryptographically but are
-- refused by the metaserver and by hubs, which poll GET /api/v1/bans (every disabled user,
-- tenant and cluster, one statement) about twice a second. Enabling again lifts the ban: no
-- token is revoked, so nothing has to be reissued.

ALTER TABLE tenants
  ADD COLUMN disabled        boolean NOT NULL DEFAULT false,
  ADD COLUMN disabled_at     timestamptz,
  ADD COLUMN disabled_reason text NOT NULL DEFAULT '',
  ADD CONSTRAINT tenants_disabled_at CHECK (disabled = (disabled_at IS NOT NULL));

ALTER TABLE users
  ADD COLUMN disabled        boolean NOT NULL DEFAULT false,
  ADD COLUMN disabled_at     timestamptz,
  ADD COLUMN disabled_reason text NOT NULL DEFAULT '',
  ADD CONSTRAINT users_disabled_at CHECK (disabled = (disabled_at IS NOT NULL));

-- Partial indexes: the bans query reads only the (few) disabled rows, however many users,
-- tenants and clusters there are.
CREATE INDEX tenants_disabled ON tenants (name) WHERE disabled;
CREATE INDEX users_disabled ON users (name) WHERE disabled;
CREATE INDEX clusters_disabled ON clusters (name) WHERE disabled;
