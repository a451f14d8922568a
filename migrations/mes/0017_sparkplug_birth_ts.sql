-- Sparkplug births out of order: several ingestors on a shared subscription take one edge
-- node's messages in turn, so a birth may be drained after a newer one. Births are ordered
-- by their payload timestamps (the edge node's own clock; birth_at is when we received it):
-- an NBIRTH older than the node's current one is stale (its table not taken), and an NBIRTH
-- keeps the device tables born at or after its own timestamp.
ALTER TABLE sparkplug_nodes ADD COLUMN birth_ts TIMESTAMPTZ;    -- the current NBIRTH's
ALTER TABLE sparkplug_devices ADD COLUMN birth_ts TIMESTAMPTZ;  -- the current DBIRTH's
-- An NDEATH whose bdSeq is not the current one: the will of an older connection, or of a
-- newer one whose NBIRTH is not drained yet. Remembered: that NBIRTH, drained later and
-- older than the death, is taken and the node is dead at once.
ALTER TABLE sparkplug_nodes ADD COLUMN pending_death_bd_seq BIGINT;
ALTER TABLE sparkplug_nodes ADD COLUMN pending_death_at TIMESTAMPTZ;  -- its received time
