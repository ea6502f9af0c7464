/*
 * cursor: opaque keyset-pagination positions.
 *
 * Binary layout (26 bytes): version 1, flags (bit 0 = has_ts, bit 1 =
 * has_xid, never both, others zero), the timestamp int64 or the xid uint64
 * big-endian (zero without either), the 16 id bytes. Text is
 * that in base64url without padding: 35 characters.
 *
 * A cursor comes from the caller, so decoding is strict and total: every
 * string either yields exactly the position cursor_encode() would have
 * written it from, or a 400. Only one text maps to each position (no
 * padding, no stray low bits), so cursors can be compared as strings. The
 * cursor is not signed: it names a position, never a filter or an account,
 * so forging one only moves the caller within its own rows.
 */
#include "inboxd/lib/cursor.h"

#include <assert.h>
#include <stddef.h>
#include <stdio.h>

#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/uuid7.h"

#define CURSOR_VERSION 1
#define CURSOR_FLAG_TS 0x01u
#define CURSOR_FLAG_XID 0x02u
#define RAW_LEN 26
#define TEXT_LEN 35 /* 8 groups of 4 for 24 bytes, 3 for the last 2 */

static const char b64url[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static const char hex_digits[] = "0123456789abcdef";

/* Encodes len bytes; writes 4 chars per 3 bytes, 2 or 3 for a tail, then NUL. */
static void
b64url_encode(const unsigned char *in, size_t len, char *out)
{
    size_t i = 0;

    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

        *out++ = b64url[v >> 18 & 63];
        *out++ = b64url[v >> 12 & 63];
        *out++ = b64url[v >> 6 & 63];
        *out++ = b64url[v & 63];
    }
    if (len - i == 1) {
        *out++ = b64url[in[i] >> 2];
        *out++ = b64url[(in[i] & 3) << 4];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 8 | in[i + 1];

        *out++ = b64url[v >> 10 & 63];
        *out++ = b64url[v >> 4 & 63];
        *out++ = b64url[(v & 15) << 2];
    }
    *out = '\0';
}

static int
b64url_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* Decodes exactly TEXT_LEN characters into RAW_LEN bytes. Rejects any
 * character outside the alphabet and a last character whose unused low bits
 * are set (a second spelling of the same bytes). */
static bool
b64url_decode_raw(const char *in, unsigned char out[RAW_LEN])
{
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;

    for (size_t i = 0; i < TEXT_LEN; i++) {
        int v = b64url_value(in[i]);

        if (v < 0)
            return false;
        acc = (acc << 6 | (uint32_t)v) & 0xFFFFFF;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
        }
    }
    return o == RAW_LEN && (acc & ((1u << bits) - 1)) == 0;
}

static unsigned
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return (unsigned)(c - '0');
    if (c >= 'a' && c <= 'f')
        return (unsigned)(c - 'a' + 10);
    if (c >= 'A' && c <= 'F')
        return (unsigned)(c - 'A' + 10);
    return 0;
}

/* Reads valid UUID text (either case) into its 16 bytes. */
static void
id_to_bytes(const char *id, unsigned char out[16])
{
    size_t o = 0;

    for (size_t i = 0; i < UUID7_STRLEN; i += 2) {
        if (id[i] == '-')
            i++;
        out[o++] = (unsigned char)(hex_value(id[i]) << 4 | hex_value(id[i + 1]));
    }
}

void
cursor_encode(const struct cursor *c, char out[CURSOR_BUFLEN])
{
    unsigned char raw[RAW_LEN] = {0};
    uint64_t ts = c->has_ts ? (uint64_t)c->ts_usec : c->has_xid ? c->xid : 0;

    assert(!(c->has_ts && c->has_xid));
    raw[0] = CURSOR_VERSION;
    raw[1] = c->has_ts ? CURSOR_FLAG_TS : c->has_xid ? CURSOR_FLAG_XID : 0;
    for (int i = 0; i < 8; i++)
        raw[2 + i] = (unsigned char)(ts >> (56 - 8 * i));
    /* Ids come from our own rows, so an invalid one is our bug; without
     * assertions it encodes as the nil UUID rather than reading junk. */
    assert(uuid7_is_valid(c->id));
    if (uuid7_is_valid(c->id))
        id_to_bytes(c->id, raw + 10);
    b64url_encode(raw, RAW_LEN, out);
}

/* Length of s, but scanning no further than max + 1 characters. */
static size_t
bounded_len(const char *s, size_t max)
{
    size_t n = 0;

    while (n <= max && s[n] != '\0')
        n++;
    return n;
}

int
cursor_decode(const char *s, struct cursor *c, struct problem *pb)
{
    unsigned char raw[RAW_LEN];
    struct cursor tmp = {0};
    uint64_t ts = 0;
    size_t o = 0;

    /* The scan is bounded however long the query parameter is. */
    if (s == NULL || bounded_len(s, TEXT_LEN) != TEXT_LEN || !b64url_decode_raw(s, raw))
        goto bad;
    if (raw[0] != CURSOR_VERSION || (raw[1] & ~(CURSOR_FLAG_TS | CURSOR_FLAG_XID)) != 0 ||
        raw[1] == (CURSOR_FLAG_TS | CURSOR_FLAG_XID))
        goto bad;
    for (int i = 0; i < 8; i++)
        ts = ts << 8 | raw[2 + i];
    tmp.has_ts = (raw[1] & CURSOR_FLAG_TS) != 0;
    tmp.has_xid = (raw[1] & CURSOR_FLAG_XID) != 0;
    if (tmp.has_xid) {
        tmp.xid = ts;
    } else if (tmp.has_ts) {
        tmp.ts_usec = (int64_t)ts;
        if (tmp.ts_usec < RFC3339_MIN_USEC || tmp.ts_usec > RFC3339_MAX_USEC)
            goto bad;
    } else if (ts != 0) {
        goto bad;
    }
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            tmp.id[o++] = '-';
        tmp.id[o++] = hex_digits[raw[10 + i] >> 4];
        tmp.id[o++] = hex_digits[raw[10 + i] & 15];
    }
    tmp.id[o] = '\0';
    *c = tmp;
    return 0;
bad:
    return problem_set(pb, 400, "invalid-cursor", "cursor is not valid");
}

void
cursor_at_watermark(uint64_t mark, const struct cursor *after, struct cursor *out)
{
    if (after != NULL && after->has_xid && after->xid >= mark) {
        *out = *after;
        return;
    }
    *out = (struct cursor){.has_xid = true, .xid = mark};
    snprintf(out->id, sizeof(out->id), "00000000-0000-0000-0000-000000000000");
}
