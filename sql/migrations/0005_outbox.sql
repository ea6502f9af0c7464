-- 0005_outbox: the outbox list without a status filter.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- GET /v1/outbox lists outbound messages oldest first by (created_at, id).
-- With ?status= the scan follows messages_outbox_status_idx (0001); without
-- it that index (led by delivery_status) cannot give the order, and a large
-- outbox would be sorted whole for every page. This partial index covers
-- exactly the outbound messages (delivery_status is NULL for the others).
CREATE INDEX messages_outbox_created_idx
    ON messages (account_id, created_at, id) WHERE delivery_status IS NOT NULL;
