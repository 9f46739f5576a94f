-- Change feeds: what hubs follow (revocations, bans, grants, clusters, routes, signing keys)
-- gets a generation that every change bumps, in the changing transaction, with a NOTIFY that
-- every metaserver replica LISTENs for. Hubs long-poll GET /api/v1/changes and fetch a feed
-- only when its generation moved: about one request per change, instead of polling several
-- times a second. Triggers, not handler code, so that no writer (another replica, a migration,
-- an operator's SQL) can change a feed without saying so.

CREATE TABLE change_feeds (
  feed       text PRIMARY KEY,
  generation bigint NOT NULL DEFAULT 0
);
INSERT INTO change_feeds (feed)
VALUES ('revocations'), ('bans'), ('grants'), ('clusters'), ('routes'), ('keys');

CREATE FUNCTION kubehub_feed_changed() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  f text;
BEGIN
  FOREACH f IN ARRAY TG_ARGV LOOP
    UPDATE change_feeds SET generation = generation + 1 WHERE feed = f;
    PERFORM pg_notify('kubehub_changes', f);
  END LOOP;
  RETURN NULL;
END
$$;

-- Row triggers: a statement that touches no row (an upsert that only refreshes a heartbeat)
-- changes nothing; UPDATE triggers fire only when a column the feed shows changed.
CREATE TRIGGER revocations_feed AFTER INSERT OR DELETE ON revocations
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('revocations');

CREATE TRIGGER tenants_feed AFTER INSERT OR DELETE ON tenants
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('bans', 'grants');
CREATE TRIGGER tenants_feed_update AFTER UPDATE ON tenants
  FOR EACH ROW WHEN (OLD.disabled IS DISTINCT FROM NEW.disabled)
  EXECUTE FUNCTION kubehub_feed_changed('bans');

CREATE TRIGGER users_feed AFTER INSERT OR DELETE ON users
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('bans', 'grants');
CREATE TRIGGER users_feed_update AFTER UPDATE ON users
  FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*)
  EXECUTE FUNCTION kubehub_feed_changed('bans', 'grants');

CREATE TRIGGER clusters_feed AFTER INSERT OR DELETE ON clusters
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('clusters', 'bans', 'routes');
CREATE TRIGGER clusters_feed_update AFTER UPDATE ON clusters
  FOR EACH ROW WHEN ((OLD.labels, OLD.disabled) IS DISTINCT FROM (NEW.labels, NEW.disabled))
  EXECUTE FUNCTION kubehub_feed_changed('clusters', 'bans');

CREATE TRIGGER grants_feed AFTER INSERT OR UPDATE OR DELETE ON grants
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('grants');

CREATE TRIGGER signing_keys_feed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('keys');

CREATE TRIGGER hubs_feed AFTER INSERT OR DELETE ON hubs
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('routes');
CREATE TRIGGER hubs_feed_update AFTER UPDATE ON hubs
  FOR EACH ROW WHEN (OLD.addresses IS DISTINCT FROM NEW.addresses
                     OR OLD.draining IS DISTINCT FROM NEW.draining
                     OR OLD.instance IS DISTINCT FROM NEW.instance)
  EXECUTE FUNCTION kubehub_feed_changed('routes');

CREATE TRIGGER connections_feed AFTER INSERT OR DELETE ON connections
  FOR EACH ROW EXECUTE FUNCTION kubehub_feed_changed('routes');
