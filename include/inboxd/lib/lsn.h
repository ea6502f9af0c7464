/*
 * lsn: WAL positions (PostgreSQL's pg_lsn, a 64-bit byte offset into the
 * write-ahead log) as PostgreSQL prints them and as callers carry them.
 *
 * A write answers with the position of its commit in `Inboxd-Position`;
 * a read that sends it back is answered from a replica only once the
 * replica has replayed that far (README "Read-your-writes"). Callers
 * treat the value as opaque: it is the position as 16 lower-case hex
 * digits, so that it can change its form behind a version prefix later.
 */
#ifndef INBOXD_LSN_H
#define INBOXD_LSN_H

#include <stdbool.h>
#include <stdint.h>

/* Characters of an encoded position, without the NUL. */
#define LSN_TOKEN_LEN 16

/* PostgreSQL's text form "16/B374D848" (two hex numbers of at most 8
 * digits each). Returns true with *out set, or false (out untouched). */
bool lsn_parse_pg(const char *text, uint64_t *out);

/* The opaque `Inboxd-Position` value of lsn into out. */
void lsn_encode(uint64_t lsn, char out[LSN_TOKEN_LEN + 1]);

/* An `Inboxd-Position` value: exactly 16 hex digits (either case), and
 * not 0. Returns true with *out set, or false (out untouched). */
bool lsn_decode(const char *token, uint64_t *out);

#endif
