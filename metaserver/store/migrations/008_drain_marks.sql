-- A hub's drain mark outlives its registration. A hub deregisters when it stops
-- (DELETE /api/v1/hubs/ID) and the janitor prunes one silent for ten registry TTLs; either way
-- its row goes, and with it the draining column of 005. The mark is kept here instead: a hub
-- that registers again comes back draining until an admin undrains it, as 005 promised.
-- hubs.draining stays the live row's copy (the routing table and the routes feed read it); a
-- trigger keeps the mark in step with every change of it, whoever makes it (a replica of an
-- older version during a rolling upgrade, an operator's SQL), and always after the hubs row is
-- locked, so drains and undrains of one hub never deadlock.
CREATE TABLE hub_drains (
  hub    text PRIMARY KEY,
  reason text NOT NULL DEFAULT '',
  since  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO hub_drains (hub, reason) SELECT id, drain_reason FROM hubs WHERE draining;

CREATE FUNCTION kubehub_hub_drain_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.draining THEN
    INSERT INTO hub_drains (hub, reason) VALUES (NEW.id, NEW.drain_reason)
      ON CONFLICT (hub) DO UPDATE SET reason = EXCLUDED.reason;
  ELSE
    DELETE FROM hub_drains WHERE hub = NEW.id;
  END IF;
  RETURN NULL;
END
$$;

CREATE TRIGGER hub_drain_mark AFTER UPDATE OF draining, drain_reason ON hubs
  FOR EACH ROW EXECUTE FUNCTION kubehub_hub_drain_mark();
