-- Each cluster's latest status report from its agent (Kubernetes version, nodes, agent
-- version; proto/cluster_status.h), as the hub holding its tunnel forwarded it. Kept when the
-- cluster disconnects: it is what the cluster looked like when last seen.
ALTER TABLE clusters
  ADD COLUMN status             jsonb,
  ADD COLUMN status_reported_at timestamptz,
  ADD COLUMN status_hub         text NOT NULL DEFAULT '';
-- (The clusters feed's update trigger watches labels and disabled only: reports arriving every
-- minute from every cluster do not make hubs fetch the cluster list again.)
