/*
 * cursor: opaque keyset-pagination positions.
 *
 * A cursor names a position in a list ordered by (timestamp, id), by
 * (commit position, id) or by id alone. It never carries a filter or an
 * account: the account comes from the caller's key, so a cursor from
 * another tenant only names a position. The text is base64url without
 * padding of 26 bytes: version (1), flags (bit 0: has_ts, bit 1: has_xid;
 * never both), the timestamp or the xid as 8 bytes big-endian (zero without
 * either) and the 16 bytes of the id; always 35 characters.
 *
 * A commit position is the xid8 of the transaction that wrote the row; a
 * list ordered by it hands out only rows below the commit watermark
 * (sql/current/positions.sql, README "Architecture"), so a position once
 * handed out is never passed by a row that commits later.
 */
#ifndef INBOXD_CURSOR_H
#define INBOXD_CURSOR_H

#include <stdbool.h>
#include <stdint.h>

#include "inboxd/lib/problem.h"

struct cursor {
    bool has_ts;
    int64_t ts_usec; /* microseconds since the epoch (rfc3339.h); 0 if !has_ts */
    bool has_xid;    /* a commit position instead of a timestamp */
    uint64_t xid;    /* the writer's xid8; 0 if !has_xid */
    char id[37];     /* lower-case hyphenated UUID text */
};

#define CURSOR_BUFLEN 64

/* Writes the text form of c (35 chars + NUL) into out. c->id must be valid
 * UUID text (uuid7_is_valid(); either case), has_ts and has_xid not both
 * set, and, if has_ts, ts_usec within RFC3339_MIN_USEC..RFC3339_MAX_USEC;
 * otherwise the cursor produced will not decode. */
void cursor_encode(const struct cursor *c, char out[CURSOR_BUFLEN]);

/* Decodes s into *c; c->id comes back lower-case hyphenated and ts_usec is 0
 * when !has_ts. Only the exact form cursor_encode() produces is accepted.
 * Returns 0, or -1 with a 400 "invalid-cursor" problem in pb (s NULL or empty,
 * wrong length, characters outside base64url, '=' padding, non-canonical
 * trailing bits, unknown version or flag bits, both flags, nonzero ts or
 * xid without its flag, ts outside years 0001-9999); *c is untouched on
 * failure. */
int cursor_decode(const char *s, struct cursor *c, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * A commit position (xid, id) for a list read under watermark `mark` (the
 * xid8 below which every writer has ended): the position after everything
 * below the mark, (mark, nil id), or `after` when that is further on (a
 * reader that came from a more advanced server: a replica lags). The
 * cursor to come back with once a list has nothing more below its mark.
 */
void cursor_at_watermark(uint64_t mark, const struct cursor *after, struct cursor *out);

#endif
