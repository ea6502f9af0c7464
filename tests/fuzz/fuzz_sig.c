/*
 * fuzz_sig: the webhook signature headers. The input is
 * "<X-Inboxd-Timestamp>\n<X-Inboxd-Signature>\n<body>"; sig_verify() must
 * sort any of it into one result without reading past what it was given.
 * Then the round trip of sig.h: a delivery signed by sig_sign() with the
 * fuzzer's body verifies, and the same signature over another body does
 * not. The same pieces go to sig_verify_standard() (Standard Webhooks) as
 * webhook-timestamp and webhook-signature, and the first one also as
 * webhook-id; and its round trip with sig_sign_standard(), alone and
 * beside another v1 entry as during a rotation.
 */
#include "fuzz.h"

#include "inboxd/lib/sig.h"

#define NOW 1796000000LL /* a fixed "now": runs must not depend on the clock */
#define SECRET "whsec_fuzz_current"
#define PREVIOUS "whsec_fuzz_previous"
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_PREVIOUS "whsec_c2Vjb25kLWtleS1vZi1hdC1sZWFzdC0yNC1ieXRlcw=="

/* The next '\n'-terminated piece of [*p, end) as a new string, or NULL
 * (an absent header) when the piece is the single byte "-". */
static char *
piece(const uint8_t **p, const uint8_t *end)
{
    const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
    size_t n = nl ? (size_t)(nl - *p) : (size_t)(end - *p);
    char *s = n == 1 && **p == '-' ? NULL : fuzz_strndup(*p, n);

    *p += n + (nl != NULL);
    return s;
}

static void
sign_and_verify(const uint8_t *body, size_t n, int64_t ts)
{
    char sig[72], tsbuf[24];
    enum sig_result r;

    FUZZ_CHECK(sig_sign(SECRET, ts, body, n, sig) == 0);
    FUZZ_CHECK(strlen(sig) == 7 + SIG_SHA256_HEX);
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    r = sig_verify(tsbuf, sig, body, n, SECRET, NULL, ts, 0);
    FUZZ_CHECK(r == SIG_OK);
    /* During a rotation the current secret is the previous one. */
    r = sig_verify(tsbuf, sig, body, n, "another", SECRET, ts + 300, 300);
    FUZZ_CHECK(r == SIG_OK);
    r = sig_verify(tsbuf, sig, body, n, SECRET, NULL, ts + 301, 300);
    FUZZ_CHECK(r == SIG_STALE);
    if (n > 0) {
        r = sig_verify(tsbuf, sig, body, n - 1, SECRET, PREVIOUS, ts, 0);
        FUZZ_CHECK(r == SIG_MISMATCH);
    }
}

static void
standard_sign_and_verify(const uint8_t *body, size_t n, int64_t ts)
{
    char sig[SIG_STANDARD_LEN + 1], tsbuf[24], list[2 * SIG_STANDARD_LEN + 2];
    enum sig_result r;

    FUZZ_CHECK(sig_sign_standard(STD_SECRET, "msg_fuzz", ts, body, n, sig) == 0);
    FUZZ_CHECK(strlen(sig) == SIG_STANDARD_LEN);
    snprintf(tsbuf, sizeof(tsbuf), "%lld", (long long)ts);
    r = sig_verify_standard("msg_fuzz", tsbuf, sig, body, n, STD_SECRET, NULL, ts, 0);
    FUZZ_CHECK(r == SIG_OK);
    FUZZ_CHECK(sig_sign_standard(STD_PREVIOUS, "msg_fuzz", ts, body, n, list) == 0);
    list[SIG_STANDARD_LEN] = ' ';
    memcpy(list + SIG_STANDARD_LEN + 1, sig, SIG_STANDARD_LEN + 1);
    r = sig_verify_standard("msg_fuzz", tsbuf, list, body, n, "whsec_bm90LXRoZS1rZXktYXQtYWxsLW5vLW5vLW5v",
                            STD_SECRET, ts - 300, 300);
    FUZZ_CHECK(r == SIG_OK);
    r = sig_verify_standard("msg_fuzz", tsbuf, sig, body, n, STD_SECRET, NULL, ts + 301, 300);
    FUZZ_CHECK(r == SIG_STALE);
    r = sig_verify_standard("msg_fuzz2", tsbuf, sig, body, n, STD_SECRET, STD_PREVIOUS, ts, 0);
    FUZZ_CHECK(r == SIG_MISMATCH);
    if (n > 0) {
        r = sig_verify_standard("msg_fuzz", tsbuf, sig, body, n - 1, STD_SECRET, STD_PREVIOUS, ts,
                                0);
        FUZZ_CHECK(r == SIG_MISMATCH);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *p = data, *end = data + size;
    char *ts = piece(&p, end);
    char *sig = piece(&p, end);
    const uint8_t *body = p;
    size_t n = (size_t)(end - p);
    enum sig_result r;
    int64_t t = 0;

    r = sig_verify(ts, sig, n ? body : NULL, n, SECRET, PREVIOUS, NOW, 300);
    FUZZ_CHECK(r >= SIG_OK && r <= SIG_MISMATCH);
    FUZZ_CHECK(sig_result_str(r) != NULL);
    r = sig_verify(ts, sig, n ? body : NULL, n, SECRET, NULL, NOW, -5);
    FUZZ_CHECK(sig_result_str(r) != NULL);
    r = sig_verify_standard("msg_fuzz", ts, sig, n ? body : NULL, n, STD_SECRET, STD_PREVIOUS, NOW,
                            300);
    FUZZ_CHECK(r >= SIG_OK && r <= SIG_MISMATCH);
    r = sig_verify_standard(ts, "1796000000", sig, n ? body : NULL, n, STD_SECRET, sig, NOW, 300);
    FUZZ_CHECK(r >= SIG_OK && r <= SIG_MISMATCH);

    /* A timestamp of up to 12 digits from the first bytes. */
    for (size_t i = 0; i < 5 && i < size; i++)
        t = t << 8 | data[i];
    sign_and_verify(n ? body : NULL, n, t % 1000000000000LL);
    standard_sign_and_verify(n ? body : NULL, n, t % 1000000000000LL);
    free(ts);
    free(sig);
    return 0;
}
