// tests/bench/node/server.js — the plain service of the benchmark (issue 18):
// what a small Node team would write to post an inbound message with fastify
// and pg. One transaction: touch the conversation, insert the message. No
// audit row, no draft request, no feed position, no idempotency: the simpler
// insert inboxd's inbound message is measured against (run.sh op node_message).
//
//   DATABASE_URL=... NODE_KEY=... NODE_ACCOUNT=<uuid> NODE_POOL=5 NODE_PORT=18640 node server.js
'use strict';
const crypto = require('node:crypto');
const fastify = require('fastify')({ logger: false });
const { Pool } = require('pg');

// DATABASE_URL as a URI or as libpq's "host=... port=... dbname=..." pairs.
const url = process.env.DATABASE_URL || '';
const conn = /^postgres(ql)?:/.test(url)
  ? { connectionString: url }
  : Object.fromEntries(url.trim().split(/\s+/).map((kv) => kv.split('=')).map(([k, v]) => [k === 'dbname' ? 'database' : k, v]));
const pool = new Pool({ ...conn, max: Number(process.env.NODE_POOL || 5) });
const key = Buffer.from(`Bearer ${process.env.NODE_KEY}`);
const account = process.env.NODE_ACCOUNT;

const body = {
  type: 'object',
  required: ['direction', 'bodyText'],
  properties: {
    externalId: { type: 'string', maxLength: 200 },
    direction: { enum: ['inbound', 'outbound'] },
    subject: { type: 'string', maxLength: 1000 },
    bodyText: { type: 'string', maxLength: 100000 },
  },
};

fastify.post('/v1/conversations/:id/messages', { schema: { body } }, async (req, reply) => {
  const auth = Buffer.from(req.headers.authorization || '');
  if (auth.length !== key.length || !crypto.timingSafeEqual(auth, key))
    return reply.code(401).send({ title: 'unauthorized' });
  const m = req.body;
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const c = await client.query(
      'UPDATE conversations SET last_message_at = now(), updated_at = now() ' +
        'WHERE account_id = $1 AND id = $2 AND deleted_at IS NULL RETURNING id',
      [account, req.params.id]);
    if (c.rowCount === 0) {
      await client.query('ROLLBACK');
      return reply.code(404).send({ title: 'not found' });
    }
    const r = await client.query(
      'INSERT INTO messages (account_id, id, conversation_id, external_id, direction, subject, body_text) ' +
        'VALUES ($1, $2, $3, $4, $5, $6, $7) ' +
        'RETURNING id, conversation_id AS "conversationId", external_id AS "externalId", direction, ' +
        'subject, body_text AS "bodyText", created_at AS "createdAt"',
      [account, crypto.randomUUID(), req.params.id, m.externalId ?? null, m.direction, m.subject ?? null, m.bodyText]);
    await client.query('COMMIT');
    return reply.code(201).send(r.rows[0]);
  } catch (e) {
    await client.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    client.release();
  }
});

fastify.get('/healthz', async () => ({ status: 'ok' }));

fastify.listen({ host: '127.0.0.1', port: Number(process.env.NODE_PORT || 18640) }).catch((e) => {
  console.error(e);
  process.exit(1);
});
