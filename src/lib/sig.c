/*
 * sig: HMAC-SHA256 signatures of inbound webhook deliveries.
 *
 * The header text is parsed completely before any MAC is computed, the MAC
 * is streamed over "<timestamp>.<body>" without copying the body (it may be
 * as large as the body limit and may contain NUL bytes), and the comparison
 * runs over raw bytes with nettle's memeql_sec(), whose time depends only on
 * the length. Both secrets of a rotation are always tried, and the results
 * combined without branching, so timing does not tell which one matched.
 * Never log anything this module sees except the result.
 */
#include "inboxd/lib/sig.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <nettle/base64.h>
#include <nettle/memops.h>

#define MAC_LEN 32
#define TS_MAX_DIGITS 12
#define SIG_PREFIX "sha256="
#define SIG_PREFIX_LEN (sizeof SIG_PREFIX - 1)

static const char *const result_names[] = {
    [SIG_OK] = "ok",
    [SIG_MISSING] = "missing signature",
    [SIG_MALFORMED] = "malformed signature",
    [SIG_STALE] = "stale timestamp",
    [SIG_MISMATCH] = "signature mismatch",
};

static const char hex_digits[] = "0123456789abcdef";

static int
hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* 1-12 ASCII digits and nothing else; no sign, no spaces. */
static bool
parse_timestamp(const char *s, size_t *len, int64_t *ts)
{
    int64_t v = 0;
    size_t n = 0;

    for (; s[n] >= '0' && s[n] <= '9'; n++) {
        if (n == TS_MAX_DIGITS)
            return false;
        v = v * 10 + (s[n] - '0');
    }
    if (n == 0 || s[n] != '\0')
        return false;
    *len = n;
    *ts = v;
    return true;
}

/* Exactly "sha256=" and 64 hex digits (either case) into 32 bytes. */
static bool
parse_signature(const char *s, unsigned char mac[MAC_LEN])
{
    if (strncmp(s, SIG_PREFIX, SIG_PREFIX_LEN) != 0)
        return false;
    s += SIG_PREFIX_LEN;
    /* hex_value('\0') is -1, so a short value stops before its end. */
    for (size_t i = 0; i < MAC_LEN; i++) {
        int hi = hex_value(s[2 * i]);
        int lo = hi < 0 ? -1 : hex_value(s[2 * i + 1]);

        if (lo < 0)
            return false;
        mac[i] = (unsigned char)(hi << 4 | lo);
    }
    return s[2 * MAC_LEN] == '\0';
}

/* HMAC-SHA256(key, [id "."] ts "." body): the inboxd scheme has no id
 * (NULL), Standard Webhooks does. Returns false if gnutls fails. */
static bool
mac_over(const void *key, size_t keylen, const char *id, size_t id_len, const char *ts,
         size_t ts_len, const void *body, size_t body_len, unsigned char mac[MAC_LEN])
{
    gnutls_hmac_hd_t h;

    if (gnutls_hmac_init(&h, GNUTLS_MAC_SHA256, key, keylen) < 0)
        return false;
    if ((id != NULL && (gnutls_hmac(h, id, id_len) < 0 || gnutls_hmac(h, ".", 1) < 0)) ||
        gnutls_hmac(h, ts, ts_len) < 0 || gnutls_hmac(h, ".", 1) < 0 ||
        (body_len > 0 && gnutls_hmac(h, body, body_len) < 0)) {
        gnutls_hmac_deinit(h, NULL);
        return false;
    }
    gnutls_hmac_deinit(h, mac);
    return true;
}

/* HMAC-SHA256(secret, ts "." body). */
static bool
compute_mac(const char *secret, const char *ts, size_t ts_len, const void *body, size_t body_len,
            unsigned char mac[MAC_LEN])
{
    return mac_over(secret, strlen(secret), NULL, 0, ts, ts_len, body, body_len, mac);
}

/* 1 if secret is usable and its MAC over the delivery equals want, else 0.
 * Always does the same work for a usable secret, whatever the outcome. */
static int
secret_matches(const char *secret, const char *ts, size_t ts_len, const void *body, size_t body_len,
               const unsigned char want[MAC_LEN])
{
    unsigned char mac[MAC_LEN];
    int eq;

    /* An empty key is one every sender knows; never let it authenticate. */
    if (secret == NULL || secret[0] == '\0')
        return 0;
    if (!compute_mac(secret, ts, ts_len, body, body_len, mac))
        return 0;
    eq = memeql_sec(mac, want, MAC_LEN) != 0;
    gnutls_memset(mac, 0, sizeof mac);
    return eq;
}

enum sig_result
sig_verify(const char *timestamp_hdr, const char *signature_hdr, const void *body, size_t body_len,
           const char *secret, const char *secret_previous, int64_t now_unix, int max_skew_seconds)
{
    unsigned char want[MAC_LEN];
    int64_t ts, skew = max_skew_seconds > 0 ? max_skew_seconds : 0;
    size_t ts_len;
    int ok;

    if (timestamp_hdr == NULL || signature_hdr == NULL || timestamp_hdr[0] == '\0' ||
        signature_hdr[0] == '\0')
        return SIG_MISSING;
    if (!parse_timestamp(timestamp_hdr, &ts_len, &ts) || !parse_signature(signature_hdr, want))
        return SIG_MALFORMED;
    /* ts is at most 12 digits and skew fits an int, so neither bound
     * overflows, whatever now_unix is. */
    if (now_unix < ts - skew || now_unix > ts + skew)
        return SIG_STALE;
    if (body == NULL)
        body_len = 0;
    /* Bitwise OR, not ||: both secrets are always checked. */
    ok = secret_matches(secret, timestamp_hdr, ts_len, body, body_len, want) |
         secret_matches(secret_previous, timestamp_hdr, ts_len, body, body_len, want);
    return ok ? SIG_OK : SIG_MISMATCH;
}

const char *
sig_result_str(enum sig_result r)
{
    if ((unsigned)r < sizeof result_names / sizeof result_names[0])
        return result_names[r];
    return "invalid signature";
}

int
sig_sign(const char *secret, int64_t ts, const void *body, size_t body_len, char out[72])
{
    char ts_text[TS_MAX_DIGITS + 1];
    char tmp[TS_MAX_DIGITS];
    unsigned char mac[MAC_LEN];
    size_t n = 0, len = 0;

    if (secret == NULL || secret[0] == '\0' || ts < 0 || ts > 999999999999LL)
        return -1;
    do {
        tmp[n++] = (char)('0' + ts % 10);
        ts /= 10;
    } while (ts > 0);
    while (n > 0)
        ts_text[len++] = tmp[--n];
    ts_text[len] = '\0';
    if (body == NULL)
        body_len = 0;
    if (!compute_mac(secret, ts_text, len, body, body_len, mac))
        return -1;
    memcpy(out, SIG_PREFIX, SIG_PREFIX_LEN);
    for (size_t i = 0; i < MAC_LEN; i++) {
        out[SIG_PREFIX_LEN + 2 * i] = hex_digits[mac[i] >> 4];
        out[SIG_PREFIX_LEN + 2 * i + 1] = hex_digits[mac[i] & 15];
    }
    out[SIG_PREFIX_LEN + 2 * MAC_LEN] = '\0';
    return 0;
}

int
sig_sha256_hex(const void *data, size_t n, char out[SIG_SHA256_HEX + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char d[32];

    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, data, n, d) != 0)
        return -1;
    for (int i = 0; i < 32; i++) {
        out[2 * i] = hex[d[i] >> 4];
        out[2 * i + 1] = hex[d[i] & 15];
    }
    out[SIG_SHA256_HEX] = '\0';
    return 0;
}

/* --- Standard Webhooks ------------------------------------------------------- */

#define STD_PREFIX "whsec_"
#define STD_PREFIX_LEN (sizeof STD_PREFIX - 1)
#define STD_KEY_MIN 24
#define STD_ID_MAX 200
#define STD_MAX_SIGS 16 /* entries of one webhook-signature header */

/* Strict standard base64 (RFC 4648 section 4, padded) of n characters into
 * at most max (<= 64) bytes, decoded by nettle once the text is known to be
 * nothing but the alphabet (nettle itself skips white space). Returns the
 * byte count, or -1: a length that is not a multiple of 4, a character
 * outside the alphabet, padding anywhere but at the end, or more than max
 * bytes. */
static long
b64_decode(const char *s, size_t n, unsigned char *out, size_t max)
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=";
    struct base64_decode_ctx ctx;
    uint8_t buf[BASE64_DECODE_LENGTH(128)];
    size_t len = 0;

    if (n == 0 || n % 4 != 0 || n > 128)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (memchr(alphabet, s[i], sizeof alphabet - 1) == NULL)
            return -1;
    base64_decode_init(&ctx);
    if (!base64_decode_update(&ctx, &len, buf, n, s) || !base64_decode_final(&ctx) || len > max)
        return -1;
    memcpy(out, buf, len);
    return (long)len;
}

long
sig_standard_key(const char *secret, unsigned char key[SIG_STANDARD_KEY_MAX])
{
    long n;

    if (secret == NULL || strncmp(secret, STD_PREFIX, STD_PREFIX_LEN) != 0)
        return -1;
    secret += STD_PREFIX_LEN;
    n = b64_decode(secret, strlen(secret), key, SIG_STANDARD_KEY_MAX);
    return n >= STD_KEY_MIN ? n : -1;
}

/* A webhook-id: 1-200 visible ASCII characters. */
static bool
standard_id_ok(const char *id, size_t *len)
{
    size_t n = 0;

    for (; id[n] != '\0'; n++)
        if (n == STD_ID_MAX || (unsigned char)id[n] <= 0x20 || (unsigned char)id[n] >= 0x7f)
            return false;
    *len = n;
    return n > 0;
}

/* The v1 entries of a webhook-signature header into sigs; entries of other
 * versions (v1a, ...) are skipped. Returns how many, or -1 when an entry
 * has no version, a v1 entry is not base64 of 32 bytes, or there are more
 * than STD_MAX_SIGS entries. */
static int
parse_standard_sigs(const char *h, unsigned char sigs[STD_MAX_SIGS][MAC_LEN])
{
    int entries = 0, n = 0;

    while (*h != '\0') {
        size_t len = strcspn(h, " ");
        const char *comma = memchr(h, ',', len);

        if (len == 0) { /* runs of spaces separate too */
            h++;
            continue;
        }
        if (comma == NULL || comma == h || ++entries > STD_MAX_SIGS)
            return -1;
        if (comma - h == 2 && h[0] == 'v' && h[1] == '1') {
            if (b64_decode(comma + 1, len - 3, sigs[n], MAC_LEN) != MAC_LEN)
                return -1;
            n++;
        }
        h += len;
    }
    return n;
}

/* 1 if secret is a usable whsec_ key whose MAC over the delivery equals any
 * of the n signatures, else 0. Every signature is compared, in constant
 * time each, whatever matched before. */
static int
standard_matches(const char *secret, const char *id, size_t id_len, const char *ts, size_t ts_len,
                 const void *body, size_t body_len, unsigned char sigs[][MAC_LEN], int n)
{
    unsigned char key[SIG_STANDARD_KEY_MAX], mac[MAC_LEN];
    long keylen = sig_standard_key(secret, key);
    int eq = 0;

    if (keylen < 0)
        return 0;
    if (mac_over(key, (size_t)keylen, id, id_len, ts, ts_len, body, body_len, mac))
        for (int i = 0; i < n; i++)
            eq |= memeql_sec(mac, sigs[i], MAC_LEN) != 0;
    gnutls_memset(key, 0, sizeof key);
    gnutls_memset(mac, 0, sizeof mac);
    return eq;
}

enum sig_result
sig_verify_standard(const char *id_hdr, const char *timestamp_hdr, const char *signature_hdr,
                    const void *body, size_t body_len, const char *secret,
                    const char *secret_previous, int64_t now_unix, int max_skew_seconds)
{
    unsigned char sigs[STD_MAX_SIGS][MAC_LEN];
    int64_t ts, skew = max_skew_seconds > 0 ? max_skew_seconds : 0;
    size_t ts_len, id_len;
    int n, ok;

    if (id_hdr == NULL || timestamp_hdr == NULL || signature_hdr == NULL || id_hdr[0] == '\0' ||
        timestamp_hdr[0] == '\0' || signature_hdr[0] == '\0')
        return SIG_MISSING;
    if (!standard_id_ok(id_hdr, &id_len) || !parse_timestamp(timestamp_hdr, &ts_len, &ts) ||
        (n = parse_standard_sigs(signature_hdr, sigs)) <= 0)
        return SIG_MALFORMED;
    if (now_unix < ts - skew || now_unix > ts + skew)
        return SIG_STALE;
    if (body == NULL)
        body_len = 0;
    /* Bitwise OR, not ||: both secrets are always checked. */
    ok = standard_matches(secret, id_hdr, id_len, timestamp_hdr, ts_len, body, body_len, sigs, n) |
         standard_matches(secret_previous, id_hdr, id_len, timestamp_hdr, ts_len, body, body_len,
                          sigs, n);
    return ok ? SIG_OK : SIG_MISMATCH;
}

int
sig_sign_standard(const char *secret, const char *id, int64_t ts, const void *body,
                  size_t body_len, char out[SIG_STANDARD_LEN + 1])
{
    unsigned char key[SIG_STANDARD_KEY_MAX], mac[MAC_LEN];
    char ts_text[TS_MAX_DIGITS + 2];
    long keylen = sig_standard_key(secret, key);
    size_t id_len;
    bool ok;

    if (keylen < 0 || id == NULL || !standard_id_ok(id, &id_len) || ts < 0 ||
        ts > 999999999999LL)
        return -1;
    snprintf(ts_text, sizeof ts_text, "%lld", (long long)ts);
    if (body == NULL)
        body_len = 0;
    ok = mac_over(key, (size_t)keylen, id, id_len, ts_text, strlen(ts_text), body, body_len, mac);
    gnutls_memset(key, 0, sizeof key);
    if (!ok)
        return -1;
    memcpy(out, "v1,", 3);
    base64_encode_raw(out + 3, MAC_LEN, mac);
    out[SIG_STANDARD_LEN] = '\0';
    return 0;
}
