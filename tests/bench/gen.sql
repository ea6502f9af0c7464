-- tests/bench/gen.sql: the benchmark's data, made by generate_series.
--
-- Run by tests/bench/run.sh with psql on a migrated, empty database, in
-- three steps so that the costly one (messages: a tsvector and eight index
-- entries per row) runs on both cores:
--   psql -v step=1 -f gen.sql                    plan, account, users, channels, conversations
--   psql -v step=2 -v part=0 -f gen.sql &        messages and attachments of the first half
--   psql -v step=2 -v part=1 -f gen.sql          ... of the second half
--   psql -v step=3 -f gen.sql                    drafts, requests, actions, samples, the feed
-- then VACUUM ANALYZE (run.sh: vacuumdb --analyze --jobs 2). `-v nconv=N`
-- with step 1 scales it (default 100,000). Step 4 is not part of the data
-- set: run.sh runs it on its copy right before the approvals, which use up
-- one pending draft each (`-v topup=N`, default 30,000, more pending drafts).
--
-- What it makes: one account "Bench Co" with 8 users and 6 channels; nconv
-- conversations (80 % open, 10 % pending, 10 % closed) of 1..7 messages
-- each (4 on average: 400,000), the last one always inbound (the customer
-- waits), directions alternating backwards from it. Around them, what the
-- app would have written:
--   * 30 % of all conversations (open ones) have a pending draft for their
--     latest inbound message, a done draft request for it, and
--     pending_draft_id / feed_at = last_inbound_at set as the draft-create
--     transaction sets them (30,000: the review feed);
--   * 20 % (20,000) had an older draft (trigger: the inbound message two
--     before the last) approved (70 %: draft 'sent') or edited (30 %:
--     'superseded'); its action sent the outbound message right after the
--     trigger, and left a learning sample (20,000);
--   * a third of the pending-draft conversations with >= 3 messages also
--     have an older draft superseded without action (a newer inbound
--     message replaced it);
--   * outbound messages are delivered; 5 % of inbound messages have an
--     attachment.
-- ids are UUIDv7-like: the row's creation time in ms, version 7, a kind
-- code, variant 10, and the row's number, so they are unique without
-- hashing, sort by creation time like inboxd's own, and every run makes the
-- same data (times are relative to now()). Foreign keys and CHECKs stay on:
-- the load proves its own consistency. The helper schema bench_gen is
-- dropped by step 3.

\set ON_ERROR_STOP 1
\if :{?nconv}
\else
\set nconv 100000
\endif
\if :{?part}
\else
\set part 0
\endif
SELECT :step = 1 AS step1, :step = 2 AS step2, :step = 3 AS step3, :step = 4 AS step4 \gset

SET client_min_messages = warning;
SET synchronous_commit = off;     -- a crashed load is simply redone
SET maintenance_work_mem = '256MB';
SET work_mem = '64MB';

\if :step1
BEGIN;
CREATE SCHEMA bench_gen;

-- A UUIDv7-like id: ms time t, version 7, kind (3 hex), variant 10 with 14
-- bits mixed from n, then n (12 hex).
CREATE FUNCTION bench_gen.id(t timestamptz, kind int, n bigint) RETURNS uuid
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (lpad(to_hex((extract(epoch FROM t) * 1000)::bigint), 12, '0') || '7'
            || lpad(to_hex(kind), 3, '0') || to_hex(((n * 40503) % 16384) | 32768)
            || lpad(to_hex(n), 12, '0'))::uuid
$$;

-- 997 texts of 30..129 words, for bodies that to_tsvector has to read.
CREATE UNLOGGED TABLE bench_gen.text AS
SELECT t, string_agg((ARRAY['fuel', 'line', 'fitting', 'AN-6', 'AN-8', 'hose', 'order',
                            'shipping', 'return', 'pump', 'regulator', 'filter', 'adapter',
                            'thread', 'leak', 'pressure', 'carburetor', 'EFI', 'tracking',
                            'invoice', 'the', 'my', 'is', 'for', 'with', 'and', 'please',
                            'thanks', 'when', 'will', 'can', 'you', 'help', 'size', 'price',
                            'stock', 'bracket', 'clamp', 'Ford', 'Chevy', 'install', 'kit',
                            'delivery', 'warranty', 'gasket', 'bolt', 'nozzle', 'sensor'])
                     [1 + ((t * 7919 + w * 104729) % 48)], ' ' ORDER BY w) AS body
FROM generate_series(0, 996) t, LATERAL generate_series(1, 30 + (t * 31) % 100) w
GROUP BY t;
CREATE UNIQUE INDEX ON bench_gen.text (t);

INSERT INTO accounts (id, name, created_at, updated_at)
VALUES (bench_gen.id(now() - interval '400 days', 1, 1), 'Bench Co',
        now() - interval '400 days', now() - interval '400 days');

CREATE UNLOGGED TABLE bench_gen.k AS
SELECT (SELECT id FROM accounts WHERE name = 'Bench Co') AS acct,
       now() - interval '120 days' AS t0,
       now() - interval '1 hour' AS t1,
       CAST(:nconv AS int) AS nconv,
       NULL::uuid[] AS chans, NULL::uuid[] AS users;

INSERT INTO users (account_id, id, email, display_name, role, created_at, updated_at)
SELECT k.acct, bench_gen.id(k.t0 - interval '200 days', 2, u), 'agent' || u || '@bench.example',
       'Agent ' || u, CASE WHEN u = 1 THEN 'admin' ELSE 'agent' END::user_role,
       k.t0 - interval '200 days', k.t0 - interval '200 days'
FROM bench_gen.k k, generate_series(1, 8) u;

INSERT INTO channels (account_id, id, type, external_id, name, metadata, created_at, updated_at)
SELECT k.acct, bench_gen.id(k.t0 - interval '150 days', 3, ch.n), ch.type::channel_type, ch.ext,
       ch.name, '{"bench": true}', k.t0 - interval '150 days', k.t0 - interval '150 days'
FROM bench_gen.k k,
     (VALUES (1, 'email', 'support-mail', 'Support inbox'),
             (2, 'email', 'sales-mail', 'Sales inbox'),
             (3, 'chat', 'web-chat', 'Website chat'),
             (4, 'chat', 'app-chat', 'App chat'),
             (5, 'shopify', 'shop-comments', 'Shop comments'),
             (6, 'slack', 'dealer-slack', 'Dealer Slack')) AS ch (n, type, ext, name);

UPDATE bench_gen.k k SET
    chans = (SELECT array_agg(id ORDER BY id) FROM channels WHERE account_id = k.acct),
    users = (SELECT array_agg(id ORDER BY id) FROM users WHERE account_id = k.acct);

-- The plan of every conversation: number i, times, status, message count,
-- message spacing g (>= 6 h), and which drafts it gets.
CREATE UNLOGGED TABLE bench_gen.conv AS
SELECT i, k.acct, bench_gen.id(c.created, 4, i) AS id, k.chans[1 + i % 6] AS channel_id, c.created,
       CASE WHEN i % 10 < 8 THEN 'open' WHEN i % 10 = 8 THEN 'pending' ELSE 'closed' END AS status,
       1 + (i % 7) AS nmsg,
       least(interval '6 hours', (k.t1 - c.created) / 8) AS g,
       i % 10 < 3 AS has_pending,
       i % 10 < 3 AND i % 7 >= 2 AND i % 3 = 0 AS has_superseded,
       false AS has_action,
       i > k.nconv / 2 AS part
FROM bench_gen.k k, generate_series(1, k.nconv) i,
     LATERAL (SELECT k.t0 + (k.t1 - k.t0 - interval '2 days') * (i::float8 / k.nconv) AS created) c;

-- 20 % with an acted-on older draft: spread over those with >= 3 messages
-- and no superseded draft (both would use the same trigger).
UPDATE bench_gen.conv b SET has_action = true
FROM (SELECT i FROM bench_gen.conv WHERE nmsg >= 3 AND NOT has_superseded
      ORDER BY (i * 2654435761) % 4294967296 LIMIT (SELECT nconv / 5 FROM bench_gen.k)) s
WHERE b.i = s.i;
CREATE UNIQUE INDEX ON bench_gen.conv (i);

CREATE UNLOGGED TABLE bench_gen.msg AS
SELECT b.i, j, b.acct, b.id AS conv, b.part, b.created + (j - 1) * b.g AS at,
       CASE WHEN (b.nmsg - j) % 2 = 0 THEN 'inbound' ELSE 'outbound' END AS direction,
       bench_gen.id(b.created + (j - 1) * b.g, 5, b.i * 8 + j) AS id
FROM bench_gen.conv b, generate_series(1, b.nmsg) j;
CREATE UNIQUE INDEX ON bench_gen.msg (i, j);

INSERT INTO conversations (account_id, id, channel_id, external_id, subject, status,
                           customer_email, customer_name, last_message_at, last_inbound_at,
                           closed_at, created_at, updated_at)
SELECT b.acct, b.id, b.channel_id, 'T-' || b.i, 'Question about order ' || b.i,
       b.status::conversation_status, 'customer' || (b.i % 40000) || '@example.com',
       'Customer ' || (b.i % 40000), b.created + (b.nmsg - 1) * b.g,
       b.created + (b.nmsg - 1) * b.g,
       CASE WHEN b.status = 'closed' THEN b.created + b.nmsg * b.g END,
       b.created, b.created + b.nmsg * b.g
FROM bench_gen.conv b
ORDER BY b.i;
ANALYZE bench_gen.conv;
ANALYZE bench_gen.msg;
ANALYZE bench_gen.text;
COMMIT;
\endif

\if :step2
BEGIN;
INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject,
                      body_text, body_html, sent_at, metadata, delivery_status,
                      delivery_attempts, delivered_at, created_at, updated_at)
SELECT m.acct, m.id, m.conv,
       CASE WHEN m.direction = 'inbound' THEN 'ext-' || m.i || '-' || m.j END,
       m.direction::message_direction, 'Re: order ' || m.i, x.body,
       CASE WHEN m.direction = 'outbound' THEN '<p>' || x.body || '</p>' END,
       m.at, CASE WHEN m.j % 5 = 0 THEN '{"source": "bench"}' ELSE '{}' END::jsonb,
       CASE WHEN m.direction = 'outbound' THEN 'delivered'::delivery_status END,
       CASE WHEN m.direction = 'outbound' THEN 1 ELSE 0 END,
       CASE WHEN m.direction = 'outbound' THEN m.at + interval '3 seconds' END,
       m.at, m.at
FROM bench_gen.msg m
JOIN bench_gen.text x ON x.t = (m.i * 8 + m.j) % 997
WHERE m.part = (:part = 1)
ORDER BY m.at, m.id;

INSERT INTO attachments (account_id, id, message_id, file_name, mime_type, size_bytes, file_url,
                         created_at)
SELECT m.acct, bench_gen.id(m.at, 6, m.i * 8 + m.j), m.id, 'photo-' || m.i || '.jpg',
       'image/jpeg', 100000 + m.i, 'https://files.example.com/bench/' || m.i || '.jpg', m.at
FROM bench_gen.msg m
WHERE m.part = (:part = 1) AND m.direction = 'inbound' AND (m.i * 8 + m.j) % 20 = 0;
COMMIT;
\endif

\if :step3
BEGIN;
-- Rows of history, not events: the triggers (live events, the feed's
-- per-channel counts) stay off in this transaction, and the counts are made
-- set-wise at its end. Row by row, 300,000 conversations entering the feed
-- of a few channels in one transaction would update the same feed_counts
-- rows 300,000 times, each update walking the versions made before it
-- (quadratic: more than ten minutes at scale 10).
SET LOCAL session_replication_role = replica;
-- The drafts: 'pending' on the last message, 'superseded' (no action) on
-- the inbound message two before it, 'acted' likewise, answered by the
-- outbound message right after its trigger.
CREATE UNLOGGED TABLE bench_gen.draft AS
SELECT b.i, b.acct, b.id AS conv, x.kind, m.id AS trigger, m.at AS trigger_at, m.j,
       bench_gen.id(m.at + interval '20 seconds', x.code, b.i) AS id,
       b.i % 10 >= 7 AS edit,
       (b.i * 3) % 997 AS t
FROM bench_gen.conv b
CROSS JOIN LATERAL (VALUES ('pending', b.nmsg, b.has_pending, 7),
                           ('superseded', b.nmsg - 2, b.has_superseded, 8),
                           ('acted', b.nmsg - 2, b.has_action, 9)) AS x (kind, j, wanted, code)
JOIN bench_gen.msg m ON m.i = b.i AND m.j = x.j
WHERE x.wanted;
ANALYZE bench_gen.draft;

INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, prompt_version,
                    status, suggested_text, suggested_html, top_sources, created_at, updated_at)
SELECT d.acct, d.id, d.conv, d.trigger, 'bench-model-1', 'v3',
       CASE d.kind WHEN 'pending' THEN 'pending'
                   WHEN 'superseded' THEN 'superseded'
                   ELSE CASE WHEN d.edit THEN 'superseded' ELSE 'sent' END END::draft_status,
       'Hi, thanks for reaching out. ' || x.body,
       '<p>Hi, thanks for reaching out. ' || x.body || '</p>',
       '[{"url": "https://shop.example.com/kb/fittings", "score": 0.82}]',
       d.trigger_at + interval '20 seconds',
       d.trigger_at + CASE d.kind WHEN 'pending' THEN interval '20 seconds' ELSE interval '1 hour' END
FROM bench_gen.draft d JOIN bench_gen.text x ON x.t = d.t
ORDER BY d.trigger_at, d.id;

-- The drafting queue's finished requests, one per drafted trigger.
INSERT INTO draft_requests (account_id, id, conversation_id, message_id, status, attempts,
                            worker_id, created_at, updated_at)
SELECT d.acct, bench_gen.id(d.trigger_at + interval '1 second', 10, d.i * 4 + (d.kind = 'pending')::int),
       d.conv, d.trigger, 'done', 1, 'bench-worker', d.trigger_at + interval '1 second',
       d.trigger_at + interval '20 seconds'
FROM bench_gen.draft d
ORDER BY 2;

-- The actions of the acted drafts, each with the outbound message it sent.
INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, final_text, final_html,
                           notes, diff_json, message_id, created_at)
SELECT d.acct, bench_gen.id(m.at - interval '1 second', 11, d.i), d.id, k.users[1 + d.i % 8],
       CASE WHEN d.edit THEN 'edit' ELSE 'approve' END::action_type,
       CASE WHEN d.edit THEN 'Hi, thanks for reaching out. ' || x.body || ' Edited.'
            ELSE 'Hi, thanks for reaching out. ' || x.body END,
       CASE WHEN d.edit THEN NULL ELSE '<p>Hi, thanks for reaching out. ' || x.body || '</p>' END,
       NULL,
       CASE WHEN d.edit THEN '[{"op": "insert", "text": "Edited."}]' ELSE '[]' END::jsonb,
       m.id, m.at - interval '1 second'
FROM bench_gen.draft d
JOIN bench_gen.k k ON true
JOIN bench_gen.text x ON x.t = d.t
JOIN bench_gen.msg m ON m.i = d.i AND m.j = d.j + 1
WHERE d.kind = 'acted'
ORDER BY 2;

INSERT INTO learning_samples (account_id, id, draft_id, action_id, original_text, final_text,
                              diff_json, created_at)
SELECT a.account_id, bench_gen.id(a.created_at, 12, d.i), a.draft_id, a.id,
       'Hi, thanks for reaching out. ' || x.body, a.final_text, a.diff_json, a.created_at
FROM bench_gen.draft d
JOIN bench_gen.text x ON x.t = d.t
JOIN draft_actions a ON a.account_id = d.acct AND a.draft_id = d.id
WHERE d.kind = 'acted'
ORDER BY a.created_at, a.id;

-- The review feed, as the draft-create transaction leaves it.
UPDATE conversations c
SET pending_draft_id = d.id, feed_at = c.last_inbound_at,
    updated_at = greatest(c.updated_at, d.trigger_at + interval '20 seconds')
FROM bench_gen.draft d
WHERE d.kind = 'pending' AND c.account_id = d.acct AND c.id = d.conv;

INSERT INTO feed_counts (account_id, channel_id, n)
SELECT account_id, channel_id, count(*) FROM conversations WHERE feed_at IS NOT NULL GROUP BY 1, 2
ON CONFLICT (account_id, channel_id) DO UPDATE SET n = EXCLUDED.n;

DROP SCHEMA bench_gen CASCADE;
COMMIT;

SELECT (SELECT count(*) FROM conversations) AS conversations,
       (SELECT count(*) FROM conversations WHERE status = 'open') AS open,
       (SELECT count(*) FROM messages) AS messages,
       (SELECT count(*) FROM drafts WHERE status = 'pending') AS pending_drafts,
       (SELECT count(*) FROM conversations WHERE feed_at IS NOT NULL) AS in_feed,
       (SELECT count(*) FROM drafts WHERE status <> 'pending') AS older_drafts,
       (SELECT count(*) FROM draft_actions) AS actions,
       (SELECT count(*) FROM learning_samples) AS samples;
\endif

\if :step4
\if :{?topup}
\else
\set topup 30000
\endif
-- More pending drafts, as the drafting worker makes them: for open
-- conversations without one, on their latest inbound message, with
-- pending_draft_id and feed_at set as the draft-create transaction sets them;
-- the triggers off and the feed's counts made again after, as in step 3.
BEGIN;
SET LOCAL session_replication_role = replica;
CREATE TEMP TABLE topup AS
SELECT c.account_id, c.id AS conv, m.id AS trigger, m.body_text, inboxd_uuid7() AS id
FROM accounts a
JOIN conversations c ON c.account_id = a.id
CROSS JOIN LATERAL (SELECT m.id, m.body_text FROM messages m
                    WHERE m.account_id = c.account_id AND m.conversation_id = c.id
                      AND m.direction = 'inbound'
                    ORDER BY m.created_at DESC, m.id DESC LIMIT 1) m
WHERE a.name = 'Bench Co' AND c.status = 'open' AND c.deleted_at IS NULL
  AND c.pending_draft_id IS NULL
  AND NOT EXISTS (SELECT 1 FROM drafts d
                  WHERE d.account_id = c.account_id AND d.trigger_message_id = m.id)
ORDER BY c.id
LIMIT :topup;

INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, prompt_version,
                    status, suggested_text, suggested_html, top_sources)
SELECT t.account_id, t.id, t.conv, t.trigger, 'bench-model-1', 'v3', 'pending',
       'Hi, thanks for reaching out. ' || left(t.body_text, 400),
       '<p>Hi, thanks for reaching out. ' || left(t.body_text, 400) || '</p>',
       '[{"url": "https://shop.example.com/kb/fittings", "score": 0.82}]'
FROM topup t
ORDER BY t.id;

UPDATE conversations c
SET pending_draft_id = t.id, feed_at = c.last_inbound_at,
    updated_at = greatest(now(), c.updated_at + interval '1 microsecond')
FROM topup t
WHERE c.account_id = t.account_id AND c.id = t.conv;

INSERT INTO feed_counts (account_id, channel_id, n)
SELECT account_id, channel_id, count(*) FROM conversations WHERE feed_at IS NOT NULL GROUP BY 1, 2
ON CONFLICT (account_id, channel_id) DO UPDATE SET n = EXCLUDED.n;
COMMIT;
ANALYZE drafts;
ANALYZE conversations;
\endif
