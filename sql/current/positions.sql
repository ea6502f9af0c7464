-- positions: the commit watermark, as it is now.
--
-- Current SQL (README, "Schema"): applied after the numbered migrations,
-- every time, in one transaction; CREATE OR REPLACE only.
--
-- A list that a consumer follows by cursor (the corrections export; the
-- event stream's ids later) orders rows by the id of the transaction that
-- wrote them (an xid8 column, default pg_current_xact_id()) and hands out
-- only rows below this watermark: the xmin of the statement's own
-- snapshot, below which every transaction has committed or aborted. A
-- writer still open holds the watermark at its xid, so a row it commits
-- later can never land behind a position a reader already passed.
--
-- On a standby the snapshot is the standby's (transactions the primary
-- has assigned but the standby has not seen end yet count as running),
-- so the same rule holds for reads of a replica: its watermark is lower,
-- never wrong. The rows and the watermark must come from one snapshot:
-- one statement, or one REPEATABLE READ transaction.

-- The watermark of the current statement's snapshot.
CREATE OR REPLACE FUNCTION inboxd_watermark() RETURNS xid8
LANGUAGE sql STABLE PARALLEL RESTRICTED
AS $$
    SELECT pg_snapshot_xmin(pg_current_snapshot())
$$;
