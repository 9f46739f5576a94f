-- A hub's drain mark outlives its registration. A hub deregisters when it stops
-- (DELETE /api/v1/hubs/ID) and the janitor prunes one silent for ten registry TTLs; either way
-- its row goes, and with it the draining column of 005. The mark is kept here instead: a hub
-- that registers again comes back draining until an admin undrains it, as 005 promised.
-- hubs.draining stays the live row's copy (the routing table and the routes feed read it);
-- both are written in one transaction.
CREATE TABLE hub_drains (
  hub    text PRIMARY KEY,
  reason text NOT NULL DEFAULT '',
  since  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hub_drains (hub, reason) SELECT id, drain_reason FROM hubs WHERE draining;
