-- tests/bench/message_fn.sql: the inbound message's transaction as one
-- server-side function (run.sh op message_ways), the other way issue 18
-- asks to measure beside a pipeline: the same statements as
-- src/db/messages.c and src/db/audit.c (msg_conv_lock, msg_insert,
-- msg_draft_request, msg_conv_touch, audit_insert, msg_render), in
-- PL/pgSQL, whose plans are cached as prepared statements are. Loaded into
-- the bench database only; inboxd does not use it.
CREATE OR REPLACE FUNCTION bench_message(acct uuid, conv uuid, mid uuid, rid uuid, aid uuid,
                                         reqid text, ext text, subj text, body text,
                                         key_id uuid, hash text, ip text)
RETURNS json LANGUAGE plpgsql AS $$
DECLARE
  sent timestamptz;
  answer json;
BEGIN
  PERFORM 1 FROM conversations
   WHERE account_id = acct AND id = conv AND deleted_at IS NULL FOR NO KEY UPDATE;
  IF NOT FOUND THEN
    RETURN NULL;
  END IF;
  INSERT INTO messages AS m (account_id, id, conversation_id, external_id, direction, subject,
                             body_text, body_html, sent_at, metadata, delivery_status)
  VALUES (acct, mid, conv, ext, 'inbound', subj, body, NULL, now(), '{}', NULL)
  ON CONFLICT (account_id, conversation_id, external_id) WHERE external_id IS NOT NULL DO NOTHING
  RETURNING m.sent_at INTO sent;
  IF sent IS NULL THEN
    RETURN NULL;
  END IF;
  INSERT INTO draft_requests (account_id, id, conversation_id, message_id, status, attempts)
  VALUES (acct, rid, conv, mid, 'queued', 0);
  UPDATE conversations AS c SET
    last_message_at = greatest(c.last_message_at, sent),
    last_inbound_at = greatest(c.last_inbound_at, sent),
    feed_at = CASE WHEN c.status = 'open' AND c.pending_draft_id IS NOT NULL
                   THEN greatest(c.last_inbound_at, sent) ELSE c.feed_at END,
    updated_at = greatest(now(), c.updated_at + interval '1 microsecond')
  WHERE c.account_id = acct AND c.id = conv;
  INSERT INTO audit_log (account_id, id, actor_key_id, actor_user_id, action, resource_type,
                         resource_id, request_id, request_hash, ip, user_agent)
  VALUES (acct, aid, key_id, NULL, 'message.create', 'message', mid, reqid, hash, ip, NULL);
  SELECT inboxd_json_message(m, inboxd_message_attachments(m.account_id, m.id)) INTO answer
    FROM messages m WHERE m.account_id = acct AND m.id = mid;
  RETURN answer;
END $$;
