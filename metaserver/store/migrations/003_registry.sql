-- The registry of hubs and of which hub holds which cluster's tunnel, and the audit log.

CREATE TABLE hubs (
  id             text PRIMARY KEY,
  addresses      jsonb NOT NULL DEFAULT '{}',
  agents         integer NOT NULL DEFAULT 0,
  load           double precision NOT NULL DEFAULT 0,
  version        text NOT NULL DEFAULT '',
  registered_at  timestamptz NOT NULL DEFAULT now(),
  last_heartbeat timestamptz NOT NULL DEFAULT now()
);

-- A connection lives as long as its hub heartbeats: hubs do not refresh each agent.
CREATE TABLE connections (
  cluster      text NOT NULL REFERENCES clusters (name) ON DELETE CASCADE,
  hub          text NOT NULL REFERENCES hubs (id) ON DELETE CASCADE,
  connected_at timestamptz NOT NULL DEFAULT now(),
  last_seen    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (cluster, hub)
);
CREATE INDEX connections_hub ON connections (hub);

CREATE TABLE audit_log (
  id       bigserial PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor    text NOT NULL,
  action   text NOT NULL,
  resource text NOT NULL,
  status   integer NOT NULL,
  detail   text NOT NULL DEFAULT '',
  peer     text NOT NULL DEFAULT ''
);
CREATE INDEX audit_log_at ON audit_log (at);

-- When a cluster was last known connected, kept when its connection goes away.
ALTER TABLE clusters ADD COLUMN last_seen timestamptz;
