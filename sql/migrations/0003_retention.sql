-- 0003_retention: what keeps every retention rule's scan cheap.
--
-- Runs inside the one transaction the migrator opens: no BEGIN/COMMIT here.
--
-- Three of the four rules already have their index in 0001 (EXPLAIN of each
-- batch statement is one index range plus an index probe per candidate):
--   webhook events succeeded/skipped > 14 d   webhook_events_status_idx
--   archived/superseded drafts > 90 d         drafts_status_idx, learning_samples_draft_idx
--   soft-deleted conversations > 30 d         conversations_deleted_idx, messages_conversation_idx
--
-- Blanking message bodies of conversations closed longer than the
-- configured period is different: the rule must skip what it already
-- blanked, and conversations_closed_idx keeps every closed conversation
-- forever, so each sweep (and each batch of a sweep) would walk every
-- message of every long-closed conversation again, a cost growing with the
-- whole history. bodies_blanked_at records the conversation's updated_at as
-- it was when retention last found all its message bodies blank; any later
-- write to the conversation (a new message, a reopen and close) moves
-- updated_at strictly forward and makes it due again. The partial index
-- holds only the closed conversations that are due, so a sweep touches only
-- new work. It is an internal column: never rendered, never changes
-- updated_at (a retention pass is not a change a caller sees as an edit).
-- conversations_closed_idx served this rule alone and is replaced by it
-- (kept, it would be a larger copy of the same range, still holding the
-- conversations already done).

ALTER TABLE conversations ADD COLUMN bodies_blanked_at timestamptz;

CREATE INDEX conversations_blank_due_idx          -- retention: closed conversations whose bodies are not all blank yet
    ON conversations (account_id, closed_at, id)
    WHERE status = 'closed' AND bodies_blanked_at IS DISTINCT FROM updated_at;

DROP INDEX conversations_closed_idx;
