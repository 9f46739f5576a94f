-- Draining a hub: its agents move to other hubs (make-before-break), users' requests go to the
-- other hubs holding a cluster's tunnel, and no agent is sent there. Set by an admin
-- (kubehubctl hub drain HUB) and kept across the hub's restarts until undrained; hubs read it in
-- the routing table (GET /api/v1/routes).
ALTER TABLE hubs
  ADD COLUMN draining     boolean NOT NULL DEFAULT false,
  ADD COLUMN drain_reason text NOT NULL DEFAULT '';

-- Each hub process reports a random instance id in its heartbeats. A new id under the same hub
-- id is a restart: the connections the previous process reported are gone with it, even when
-- it came back before its registration expired.
ALTER TABLE hubs ADD COLUMN instance text NOT NULL DEFAULT '';
