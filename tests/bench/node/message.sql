-- tests/bench/node/message.sql: the plain Node service's transaction
-- (server.js), one statement per round trip, for pgbench (run.sh op
-- node_message): touch the conversation, insert the message.
\set r random(1, :nopen)
\set ext random(1, 1000000000000000)
SELECT id AS conv, gen_random_uuid() AS mid FROM bench_pgb_convs WHERE n = :r \gset
BEGIN;
UPDATE conversations SET last_message_at = now(), updated_at = now()
 WHERE account_id = :acct AND id = :conv AND deleted_at IS NULL RETURNING id;
INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject, body_text)
VALUES (:acct, :mid, :conv, 'pgb-' || :ext, 'inbound', :subject, :body)
RETURNING id, conversation_id AS "conversationId", external_id AS "externalId", direction,
          subject, body_text AS "bodyText", created_at AS "createdAt";
COMMIT;
