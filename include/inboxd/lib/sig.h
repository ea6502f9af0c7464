/*
 * sig: HMAC signatures of inbound webhook deliveries.
 *
 * A delivery carries X-Inboxd-Timestamp: <unix seconds> and
 * X-Inboxd-Signature: sha256=<hex HMAC-SHA256 of "<timestamp>.<raw body>">,
 * keyed with the source's secret. The timestamp bounds replay; the MAC is
 * compared in constant time. Callers turn every result but SIG_OK into a 401
 * and must not log the headers' values or the secrets.
 */
#ifndef INBOXD_SIG_H
#define INBOXD_SIG_H

#include <stddef.h>
#include <stdint.h>

enum sig_result {
    SIG_OK = 0,
    SIG_MISSING,   /* a header is absent (NULL) or empty */
    SIG_MALFORMED, /* timestamp not 1-12 digits, or not "sha256=" + 64 hex */
    SIG_STALE,     /* timestamp more than max_skew_seconds from now */
    SIG_MISMATCH,  /* well-formed and fresh, but no secret produces this MAC */
};

/* Checks one delivery. timestamp_hdr and signature_hdr are the raw header
 * values (borrowed, may be NULL); the MAC covers timestamp_hdr exactly as
 * sent, a '.', and body_len bytes of body (which may contain NUL bytes; body
 * may be NULL when body_len is 0). The MAC is tried against secret and, when
 * not NULL, secret_previous (during a rotation); both comparisons always run,
 * in constant time. A NULL or empty secret never matches. A negative
 * max_skew_seconds counts as 0; a timestamp exactly max_skew_seconds away
 * is still fresh. Checks run in the order of the enum: missing, malformed,
 * stale, mismatch. If the HMAC cannot be computed (out of memory) the result
 * is SIG_MISMATCH: it fails closed. */
enum sig_result sig_verify(const char *timestamp_hdr, const char *signature_hdr, const void *body,
                           size_t body_len, const char *secret, const char *secret_previous,
                           int64_t now_unix, int max_skew_seconds)
    __attribute__((warn_unused_result));

/* A short caller-safe description ("missing signature", ...); a static
 * string, never NULL. */
const char *sig_result_str(enum sig_result r);

/* Computes the X-Inboxd-Signature value "sha256=<64 lower-case hex>" for a
 * delivery with timestamp ts (written in decimal, as sig_verify expects) and
 * writes it, NUL-terminated, into out. Returns 0, or -1 (secret NULL or
 * empty, ts negative or over 12 digits, HMAC failure) leaving out untouched. */
int sig_sign(const char *secret, int64_t ts, const void *body, size_t body_len, char out[72])
    __attribute__((warn_unused_result));

/*
 * Standard Webhooks (www.standardwebhooks.com), for a source configured
 * with `scheme = standard`: webhook-id, webhook-timestamp (Unix seconds)
 * and webhook-signature, a space-separated list of "v1,<base64 of
 * HMAC-SHA256 of "<id>.<timestamp>.<raw body>">" (several during a
 * rotation; entries of other versions, such as v1a, are skipped). The key
 * is the base64-decoded part of the secret "whsec_<base64>".
 */

/* Largest key (bytes) of a whsec_ secret (the spec: 24 to 64). */
#define SIG_STANDARD_KEY_MAX 64
/* Length of "v1," and the base64 of a 32-byte MAC. */
#define SIG_STANDARD_LEN 47

/* Decodes a "whsec_<base64>" secret into key. Returns the key's length
 * (24-64 bytes), or -1 when secret is NULL, lacks the prefix, is not
 * padded standard base64, or decodes to fewer than 24 or more than 64
 * bytes. */
long sig_standard_key(const char *secret, unsigned char key[SIG_STANDARD_KEY_MAX])
    __attribute__((warn_unused_result));

/* Checks one delivery of the Standard Webhooks scheme, like sig_verify():
 * the headers' raw values (borrowed, may be NULL), the body as sent, the
 * current secret and, when not NULL, the previous one (both whsec_; one
 * that does not decode never matches). Any v1 signature made with either
 * secret verifies; every one is compared in constant time. SIG_MISSING: a
 * header absent or empty; SIG_MALFORMED: webhook-id not 1-200 visible
 * ASCII characters, the timestamp not 1-12 digits, an entry without a
 * version, a v1 entry that is not base64 of 32 bytes, no v1 entry, or more
 * than 16 entries; then SIG_STALE and SIG_MISMATCH as sig_verify(). */
enum sig_result sig_verify_standard(const char *id_hdr, const char *timestamp_hdr,
                                    const char *signature_hdr, const void *body, size_t body_len,
                                    const char *secret, const char *secret_previous,
                                    int64_t now_unix, int max_skew_seconds)
    __attribute__((warn_unused_result));

/* The webhook-signature value "v1,<base64>" of a delivery with webhook-id
 * id and timestamp ts, NUL-terminated into out. Returns 0, or -1 (secret
 * not a whsec_ key, id not 1-200 visible ASCII characters, ts negative or
 * over 12 digits, HMAC failure). */
int sig_sign_standard(const char *secret, const char *id, int64_t ts, const void *body,
                      size_t body_len, char out[SIG_STANDARD_LEN + 1])
    __attribute__((warn_unused_result));

#define SIG_SHA256_HEX 64

/* Lower-case hex SHA-256 of n bytes into out. Returns 0 or -1. */
int sig_sha256_hex(const void *data, size_t n, char out[SIG_SHA256_HEX + 1])
    __attribute__((warn_unused_result));

#endif
