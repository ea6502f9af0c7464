-- seed: the demo tenant "Hot Rod AN" (a shop for hot rod parts).
--
-- Idempotent: every statement is INSERT ... ON CONFLICT DO NOTHING with fixed
-- ids and fixed timestamps, so a second run inserts nothing and changes
-- nothing. Rows are attached to the account found by name, so the seed also
-- fills an account "Hot Rod AN" made earlier by `inboxd accounts create`.
-- No API keys: `inboxd keys create` makes those.
--
-- The story: Dale asked about fuel line sizes (inbound 1), the AI draft was
-- approved as written and delivered (draft 1, action, outbound 2, learning
-- sample), then Dale wrote again (inbound 3) and its draft waits for review
-- (draft 2, pending, in the feed).

-- account
INSERT INTO accounts (id, name, created_at, updated_at)
VALUES ('019bb16e-fe80-79af-a113-29b2fc82e5ef', 'Hot Rod AN',
        '2026-01-12 09:00:00+00', '2026-01-12 09:00:00+00')
ON CONFLICT DO NOTHING;

-- users: an admin and an agent
INSERT INTO users (account_id, id, email, display_name, role, auth_provider, auth_subject,
                   created_at, updated_at)
SELECT a.id, u.id::uuid, u.email, u.display_name, u.role::user_role, 'google', u.subject,
       u.at::timestamptz, u.at::timestamptz
FROM accounts a,
     (VALUES ('019bb16f-e8e0-78c6-976e-5b5410415bde', 'marcus@hotrodan.com', 'Marcus Hale',
              'admin', '104729301847562910384', '2026-01-12 09:01:00+00'),
             ('019bb170-d340-7d4f-8bc5-a29de06b510f', 'tessa@hotrodan.com', 'Tessa Delgado',
              'agent', '118402957361028475619', '2026-01-12 09:02:00+00'))
         AS u (id, email, display_name, role, subject, at)
WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- channel: the Zoho support mailbox
INSERT INTO channels (account_id, id, type, external_id, name, metadata, created_at, updated_at)
SELECT a.id, '019bb173-9260-769e-b656-8cd8b4659389', 'email', 'zoho-support', 'Support inbox',
       '{"provider": "zoho", "address": "support@hotrodan.com"}',
       '2026-01-12 09:05:00+00', '2026-01-12 09:05:00+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- conversation ZT-1042 with its latest inbound message and that message's
-- pending draft: one statement, because conversations.pending_draft_id and
-- drafts.conversation_id refer to each other (foreign keys are checked at
-- the end of the statement).
WITH a AS (
    SELECT id FROM accounts WHERE name = 'Hot Rod AN'
), conversation AS (
    INSERT INTO conversations (account_id, id, channel_id, external_id, subject, status,
                               customer_email, customer_name, last_message_at, last_inbound_at,
                               pending_draft_id, feed_at, created_at, updated_at)
    SELECT a.id, '01a1f94d-3c98-72ec-be47-dcf05a139d89', '019bb173-9260-769e-b656-8cd8b4659389',
           'ZT-1042', 'AN fittings for EFI fuel system on ''32 Ford', 'open',
           'dale.whitaker@example.com', 'Dale Whitaker',
           '2026-11-22 16:41:02+00', '2026-11-22 16:41:02+00',
           '01a20422-b3be-74d0-855b-6337d6a0b476', '2026-11-22 16:41:02+00',
           '2026-11-20 14:12:31+00', '2026-11-22 16:41:52.83+00'
    FROM a
    ON CONFLICT DO NOTHING
), inbound AS (
    INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject,
                          body_text, sent_at, metadata, created_at, updated_at)
    SELECT a.id, '01a20422-0a7c-789d-a2bd-31a5d008c843', '01a1f94d-3c98-72ec-be47-dcf05a139d89',
           '1042000000187203', 'inbound', 'Re: AN fittings for EFI fuel system on ''32 Ford',
           'Thanks Tessa, that helped a lot. I ordered the -6 PTFE hose kit on Friday (order #HR-20931). The confirmation says it shipped, but the tracking number hasn''t updated in two days.

One more question: my Sniper kit came with a 10-micron filter already. Do I still need a separate pre-filter, or is the sock on the in-tank pump enough?

Dale',
           '2026-11-22 16:41:02+00',
           '{"from": "Dale Whitaker <dale.whitaker@example.com>", "zohoThreadId": "ZT-1042"}',
           '2026-11-22 16:41:09.5+00', '2026-11-22 16:41:09.5+00'
    FROM a
    ON CONFLICT DO NOTHING
)
INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, prompt_version,
                    status, suggested_text, top_sources, created_at, updated_at)
SELECT a.id, '01a20422-b3be-74d0-855b-6337d6a0b476', '01a1f94d-3c98-72ec-be47-dcf05a139d89',
       '01a20422-0a7c-789d-a2bd-31a5d008c843', 'gpt-4.1-mini', 'support-reply-v7', 'pending',
       'Hi Dale,

Glad that helped! Orders usually leave our warehouse within one business day, and carriers often don''t scan a parcel again until it reaches their first sorting hub, so a two-day pause in tracking is normal. If order #HR-20931 still hasn''t moved by Wednesday, reply here and we''ll open a trace with the carrier.

On filtering: with an in-tank pump, the inlet sock on the pump does the pre-filter job, so you don''t need a separate 100-micron filter in front of it. Keep the 10-micron filter from your Sniper kit in the feed line between the tank and the throttle body, and mount it where you can reach it for service.

Best,
The Hot Rod AN team',
       '[{"url": "https://hotrodan.com/pages/shipping-policy", "title": "Shipping and delivery", "score": 0.82},
         {"url": "https://hotrodan.com/pages/efi-fuel-system-guide", "title": "EFI fuel system planning guide", "score": 0.77}]',
       '2026-11-22 16:41:52.83+00', '2026-11-22 16:41:52.83+00'
FROM a
ON CONFLICT DO NOTHING;

-- the first inbound message
INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject,
                      body_text, sent_at, metadata, created_at, updated_at)
SELECT a.id, '01a1f94d-3d92-7289-a517-5e02c788c2d4', '01a1f94d-3c98-72ec-be47-dcf05a139d89',
       '1042000000187001', 'inbound', 'AN fittings for EFI fuel system on ''32 Ford',
       'Hi there,

I''m finishing the fuel system on my ''32 Ford roadster: small-block Chevy 350 with a Holley Sniper EFI and an in-tank Sniper pump. I want to run braided line from the tank to the throttle body with a return to the tank.

What AN size do I need for the feed and the return, and which hose should I use if I might run E85 later?

Thanks,
Dale',
       '2026-11-20 14:12:29+00',
       '{"from": "Dale Whitaker <dale.whitaker@example.com>", "zohoThreadId": "ZT-1042"}',
       '2026-11-20 14:12:31.25+00', '2026-11-20 14:12:31.25+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- draft requests of both inbound messages, done
INSERT INTO draft_requests (account_id, id, conversation_id, message_id, status, attempts,
                            worker_id, created_at, updated_at)
SELECT a.id, r.id::uuid, '01a1f94d-3c98-72ec-be47-dcf05a139d89', r.message_id::uuid, 'done', 1,
       'assistants-1', r.created_at::timestamptz, r.updated_at::timestamptz
FROM accounts a,
     (VALUES ('01a1f94d-3d9c-7a1b-a6bf-9cf6cb133976', '01a1f94d-3d92-7289-a517-5e02c788c2d4',
              '2026-11-20 14:12:31.26+00', '2026-11-20 14:13:07.48+00'),
             ('01a20422-0a86-763e-b0e5-54c2aad1f306', '01a20422-0a7c-789d-a2bd-31a5d008c843',
              '2026-11-22 16:41:09.51+00', '2026-11-22 16:41:52.83+00'))
         AS r (id, message_id, created_at, updated_at)
WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- the first draft, approved as written and sent
INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, prompt_version,
                    status, suggested_text, top_sources, created_at, updated_at)
SELECT a.id, '01a1f94d-cb18-7a61-bbe2-c2693a2879ca', '01a1f94d-3c98-72ec-be47-dcf05a139d89',
       '01a1f94d-3d92-7289-a517-5e02c788c2d4', 'gpt-4.1-mini', 'support-reply-v7', 'sent',
       'Hi Dale,

Thanks for reaching out! For a Sniper EFI on a 350, -6 AN is plenty for both the feed and the return line.

Since you may run E85 later, go with PTFE-lined stainless braided hose rather than rubber hose: fuel vapour seeps through rubber and E85 breaks it down over time. PTFE hose needs PTFE hose ends, because regular rubber-hose ends won''t seal on the PTFE liner.

For a return-style system you''ll want:
- -6 AN PTFE hose for the feed and the return (measure the run and add a foot)
- -6 AN PTFE hose ends, straight and 90 degree where the line turns
- adapters from the throttle body inlet and return ports to -6 AN (the Sniper manual lists the port sizes)
- a 10-micron filter in the feed line

Our AN fitting size chart: https://hotrodan.com/pages/an-fitting-size-chart

Best,
The Hot Rod AN team',
       '[{"url": "https://hotrodan.com/pages/efi-fuel-system-guide", "title": "EFI fuel system planning guide", "score": 0.88},
         {"url": "https://hotrodan.com/pages/an-fitting-size-chart", "title": "AN fitting size chart", "score": 0.81}]',
       '2026-11-20 14:13:07.48+00', '2026-11-20 15:02:44.13+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- the outbound message the approval produced, delivered by the sync service
INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject,
                      body_text, sent_at, metadata, delivery_status, delivery_attempts,
                      delivered_at, created_at, updated_at)
SELECT a.id, '01a1f97b-3698-7a78-921e-49048b6e0d36', '01a1f94d-3c98-72ec-be47-dcf05a139d89',
       '1042000000187055', 'outbound', 'Re: AN fittings for EFI fuel system on ''32 Ford',
       d.suggested_text, '2026-11-20 15:03:10+00', '{}', 'delivered', 1,
       '2026-11-20 15:03:10+00', '2026-11-20 15:02:44.12+00', '2026-11-20 15:03:10+00'
FROM accounts a
JOIN drafts d ON d.account_id = a.id AND d.id = '01a1f94d-cb18-7a61-bbe2-c2693a2879ca'
WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- Tessa's approve action
INSERT INTO draft_actions (account_id, id, draft_id, user_id, type, final_text, diff_json,
                           message_id, created_at)
SELECT a.id, '01a1f97b-36a2-71d3-afef-6fc7477ab5f9', d.id, '019bb170-d340-7d4f-8bc5-a29de06b510f',
       'approve', d.suggested_text, '[]', '01a1f97b-3698-7a78-921e-49048b6e0d36',
       '2026-11-20 15:02:44.13+00'
FROM accounts a
JOIN drafts d ON d.account_id = a.id AND d.id = '01a1f94d-cb18-7a61-bbe2-c2693a2879ca'
WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- its learning sample: approved unchanged, so the diff is empty
INSERT INTO learning_samples (account_id, id, draft_id, action_id, original_text, final_text,
                              diff_json, created_at)
SELECT a.id, '01a1f97b-36ac-7e85-9307-91f31db1699f', d.id, '01a1f97b-36a2-71d3-afef-6fc7477ab5f9',
       d.suggested_text, d.suggested_text, '[]', '2026-11-20 15:02:44.14+00'
FROM accounts a
JOIN drafts d ON d.account_id = a.id AND d.id = '01a1f94d-cb18-7a61-bbe2-c2693a2879ca'
WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- notification that the pending draft is ready for review
INSERT INTO notifications (account_id, id, user_id, type, payload, created_at)
SELECT a.id, '01a20422-b3c8-7db9-9154-af95926ccdaa', NULL, 'draft.ready',
       '{"draftId": "01a20422-b3be-74d0-855b-6337d6a0b476",
         "conversationId": "01a1f94d-3c98-72ec-be47-dcf05a139d89",
         "draftRequestId": "01a20422-0a86-763e-b0e5-54c2aad1f306",
         "messageId": "01a20422-0a7c-789d-a2bd-31a5d008c843"}',
       '2026-11-22 16:41:52.84+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- last night's knowledge-base crawl
INSERT INTO job_runs (account_id, id, type, status, started_at, finished_at, metrics,
                      created_at, updated_at)
SELECT a.id, '01a20132-3f80-75e8-8990-2207afaeb712', 'crawl', 'succeeded',
       '2026-11-22 03:00:02+00', '2026-11-22 03:04:37+00',
       '{"pagesFetched": 148, "pagesChanged": 6, "documentsIndexed": 6, "errors": 0, "durationMs": 275000}',
       '2026-11-22 03:00:00+00', '2026-11-22 03:04:37+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;

-- a knowledge-base page the drafts cite
INSERT INTO source_documents (account_id, id, source_url, title, hash, indexed_at, next_refresh_at,
                              metadata, created_at, updated_at)
SELECT a.id, '019cadfd-8900-7c77-95c8-056323b663fc',
       'https://hotrodan.com/pages/efi-fuel-system-guide', 'EFI fuel system planning guide',
       'a84be5042e441c53ef26954469e47854b9c085938b231ff27d97985c5b3b5fdf',
       '2026-11-22 03:03:12+00', '2026-11-29 03:00:00+00',
       '{"contentType": "text/html", "chunks": 12, "language": "en",
         "jobRunId": "01a20132-3f80-75e8-8990-2207afaeb712"}',
       '2026-03-02 10:00:00+00', '2026-11-22 03:03:12+00'
FROM accounts a WHERE a.name = 'Hot Rod AN'
ON CONFLICT DO NOTHING;
