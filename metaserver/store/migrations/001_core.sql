-- Tenants, users, clusters and grants: what the platform team manages.
CREATE TABLE tenants (
  name        text PRIMARY KEY,
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- User names are global (they are the token subject); each user belongs to one tenant.
CREATE TABLE users (
  name        text PRIMARY KEY,
  tenant      text NOT NULL REFERENCES tenants (name),
  groups      jsonb NOT NULL DEFAULT '[]',
  -- Metaserver API roles: "admin" (everything), "hub" (registry, signing keys, revocations).
  roles       jsonb NOT NULL DEFAULT '[]',
  description text NOT NULL DEFAULT '',
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_tenant ON users (tenant);

CREATE TABLE clusters (
  name        text PRIMARY KEY,
  labels      jsonb NOT NULL DEFAULT '{}',
  description text NOT NULL DEFAULT '',
  disabled    boolean NOT NULL DEFAULT false,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- A grant's clusters and rules are one JSON document (validated by the API before it lands).
CREATE TABLE grants (
  name       text PRIMARY KEY,
  tenant     text NOT NULL REFERENCES tenants (name),
  username   text REFERENCES users (name) ON DELETE CASCADE,
  spec       jsonb NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX grants_tenant ON grants (tenant);
