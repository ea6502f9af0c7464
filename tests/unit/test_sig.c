/*
 * sig suite: sig_sign against a second HMAC computed here with
 * gnutls_hmac_fast() (and against the openssl command when installed), then
 * sig_verify's outcomes: good, upper-case hex, rotation, staleness on both
 * sides and at the edge, malformed and missing headers, mismatches, and
 * bodies with NUL bytes. No expected MAC is hard-coded.
 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include "inboxd/lib/sig.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <gnutls/crypto.h>

#define NOW 1700000000
#define SKEW 300
#define SECRET "whsec_current_0123456789"
#define PREVIOUS "whsec_previous_abcdef"

static const char body[] = "{\"event\":\"message.received\",\"id\":42}";

/* "sha256=" + lower-case hex of HMAC-SHA256(key, ts "." body), computed
 * with gnutls_hmac_fast over one concatenated buffer. */
static void
reference_sig(const char *key, const char *ts, const void *b, size_t len, char out[72])
{
    static const char hex[] = "0123456789abcdef";
    size_t tl = strlen(ts);
    unsigned char *msg = malloc(tl + 1 + len + 1), mac[32];

    cr_assert_not_null(msg);
    memcpy(msg, ts, tl);
    msg[tl] = '.';
    if (len > 0)
        memcpy(msg + tl + 1, b, len);
    cr_assert_eq(gnutls_hmac_fast(GNUTLS_MAC_SHA256, key, strlen(key), msg, tl + 1 + len, mac), 0);
    free(msg);
    strcpy(out, "sha256=");
    for (int i = 0; i < 32; i++) {
        out[7 + 2 * i] = hex[mac[i] >> 4];
        out[8 + 2 * i] = hex[mac[i] & 15];
    }
    out[71] = '\0';
}

static enum sig_result
verify_now(const char *ts, const char *sig, const void *b, size_t len)
{
    return sig_verify(ts, sig, b, len, SECRET, PREVIOUS, NOW, SKEW);
}

Test(sig, sign_matches_an_independent_hmac)
{
    static const struct {
        const char *key;
        int64_t ts;
        const char *ts_text;
        const char *body;
        size_t len;
    } cases[] = {
        {SECRET, NOW, "1700000000", body, sizeof body - 1},
        {PREVIOUS, NOW, "1700000000", body, sizeof body - 1},
        {"k", 0, "0", "", 0},
        {SECRET, 999999999999LL, "999999999999", "x", 1},
        {SECRET, 7, "7", "a\0b\0", 4},
    };
    char got[72], want[72];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        cr_assert_eq(sig_sign(cases[i].key, cases[i].ts, cases[i].body, cases[i].len, got), 0);
        reference_sig(cases[i].key, cases[i].ts_text, cases[i].body, cases[i].len, want);
        cr_expect_str_eq(got, want, "case %zu", i);
    }
}

Test(sig, sign_agrees_with_openssl_when_installed)
{
    char path[] = "/tmp/inboxd_sig_XXXXXX", cmd[256], line[256], got[72];
    static const char payload[] = "1700000000.{\"a\":\"b\0c\"}";
    FILE *f, *p;
    int fd;

    if (system("command -v openssl >/dev/null 2>&1") != 0)
        cr_skip_test("openssl is not installed");
    fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    f = fdopen(fd, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(payload, 1, sizeof payload - 1, f), sizeof payload - 1);
    fclose(f);
    snprintf(cmd, sizeof cmd, "openssl dgst -sha256 -hmac '%s' -r '%s'", SECRET, path);
    p = popen(cmd, "r");
    cr_assert_not_null(p);
    cr_assert_not_null(fgets(line, sizeof line, p));
    pclose(p);
    unlink(path);

    cr_assert_eq(sig_sign(SECRET, NOW, "{\"a\":\"b\0c\"}", 11, got), 0);
    /* -r prints "<hex> *<file>". */
    cr_assert_eq(strncmp(got + 7, line, 64), 0, "sig_sign %s, openssl %s", got, line);
}

Test(sig, sign_rejects_unusable_arguments)
{
    char out[72] = "untouched";

    cr_expect_eq(sig_sign(NULL, NOW, body, 3, out), -1);
    cr_expect_eq(sig_sign("", NOW, body, 3, out), -1);
    cr_expect_eq(sig_sign(SECRET, -1, body, 3, out), -1);
    cr_expect_eq(sig_sign(SECRET, 1000000000000LL, body, 3, out), -1);
    cr_expect_str_eq(out, "untouched");
}

Test(sig, good_signature_verifies)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, sizeof body - 1, s), 0);
    cr_assert_eq(verify_now("1700000000", s, body, sizeof body - 1), SIG_OK);
}

Test(sig, upper_case_hex_verifies)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, sizeof body - 1, s), 0);
    for (char *p = s + 7; *p; p++)
        if (*p >= 'a' && *p <= 'f')
            *p = (char)(*p - 'a' + 'A');
    cr_assert_eq(verify_now("1700000000", s, body, sizeof body - 1), SIG_OK);
}

Test(sig, previous_secret_verifies_during_rotation)
{
    char s[72];

    cr_assert_eq(sig_sign(PREVIOUS, NOW, body, sizeof body - 1, s), 0);
    cr_assert_eq(verify_now("1700000000", s, body, sizeof body - 1), SIG_OK);
    /* Once the rotation is over the old secret no longer works. */
    cr_assert_eq(sig_verify("1700000000", s, body, sizeof body - 1, SECRET, NULL, NOW, SKEW),
                 SIG_MISMATCH);
}

Test(sig, unknown_secret_is_a_mismatch)
{
    char s[72];

    cr_assert_eq(sig_sign("someone-else", NOW, body, sizeof body - 1, s), 0);
    cr_assert_eq(verify_now("1700000000", s, body, sizeof body - 1), SIG_MISMATCH);
}

Test(sig, empty_or_null_secret_never_matches)
{
    char s[72];

    reference_sig("", "1700000000", body, sizeof body - 1, s);
    cr_assert_eq(sig_verify("1700000000", s, body, sizeof body - 1, "", "", NOW, SKEW),
                 SIG_MISMATCH);
    cr_assert_eq(sig_verify("1700000000", s, body, sizeof body - 1, NULL, NULL, NOW, SKEW),
                 SIG_MISMATCH);
}

Test(sig, timestamps_outside_the_window_are_stale_on_both_sides)
{
    static const struct {
        int64_t ts;
        enum sig_result want;
    } cases[] = {
        {NOW, SIG_OK},
        {NOW - SKEW, SIG_OK}, /* exactly at the edge: still fresh */
        {NOW + SKEW, SIG_OK},
        {NOW - SKEW - 1, SIG_STALE},
        {NOW + SKEW + 1, SIG_STALE},
        {NOW - 86400, SIG_STALE},
        {NOW + 86400, SIG_STALE},
        {0, SIG_STALE},
        {999999999999LL, SIG_STALE},
    };
    char s[72], ts[16];

    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(ts, sizeof ts, "%lld", (long long)cases[i].ts);
        cr_assert_eq(sig_sign(SECRET, cases[i].ts, body, sizeof body - 1, s), 0);
        cr_expect_eq(verify_now(ts, s, body, sizeof body - 1), cases[i].want, "case %zu: %s", i,
                     ts);
    }
}

Test(sig, zero_or_negative_skew_accepts_only_the_exact_second)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, 3, s), 0);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, NOW, 0), SIG_OK);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, NOW + 1, 0), SIG_STALE);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, NOW, -5), SIG_OK);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, NOW - 1, -5), SIG_STALE);
}

Test(sig, extreme_now_does_not_overflow)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, 3, s), 0);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, INT64_MIN, INT32_MAX),
                 SIG_STALE);
    cr_expect_eq(sig_verify("1700000000", s, body, 3, SECRET, NULL, INT64_MAX, INT32_MAX),
                 SIG_STALE);
}

Test(sig, absent_or_empty_headers_are_missing)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, 3, s), 0);
    cr_expect_eq(verify_now(NULL, s, body, 3), SIG_MISSING);
    cr_expect_eq(verify_now("1700000000", NULL, body, 3), SIG_MISSING);
    cr_expect_eq(verify_now(NULL, NULL, body, 3), SIG_MISSING);
    cr_expect_eq(verify_now("", s, body, 3), SIG_MISSING);
    cr_expect_eq(verify_now("1700000000", "", body, 3), SIG_MISSING);
}

Test(sig, malformed_headers_are_malformed)
{
    char good[72], sig[160];
    static const char *const bad_ts[] = {
        "-1700000000",
        "+1700000000",
        " 1700000000",
        "1700000000 ",
        "1700000000\n",
        "1700000000.5",
        "1.7e9",
        "0x6553F100",
        "abc",
        "1700000000000", /* 13 digits */
        "17000000000000000000000",
    };
    /* printf patterns around the 64 good hex digits. */
    static const char *const bad_sig[] = {
        "%s",           "sha256:%s",     "SHA256=%s",     "sha1=%s",        "sha256= %s",
        "sha256=%s ",   "sha256=%s0",    " sha256=%s",    "sha256=%s,v1",   "sha256=%.63s",
        "sha256=%.62s", "sha256=%.63sg", "sha256=%.63sZ", "sha256=0x%.62s", "t=1,sha256=%s",
        "sha256==%s",
    };

    cr_assert_eq(sig_sign(SECRET, NOW, body, 3, good), 0);
    for (size_t i = 0; i < sizeof bad_ts / sizeof bad_ts[0]; i++)
        cr_expect_eq(verify_now(bad_ts[i], good, body, 3), SIG_MALFORMED, "ts \"%s\"", bad_ts[i]);
    for (size_t i = 0; i < sizeof bad_sig / sizeof bad_sig[0]; i++) {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        snprintf(sig, sizeof sig, bad_sig[i], good + 7);
#pragma GCC diagnostic pop
        cr_expect_eq(verify_now("1700000000", sig, body, 3), SIG_MALFORMED, "sig \"%s\"", sig);
    }
}

Test(sig, malformed_wins_over_stale)
{
    /* A header that cannot be parsed is reported as such whatever its age. */
    cr_assert_eq(verify_now("12", "sha256=zz", body, 3), SIG_MALFORMED);
}

Test(sig, flipped_body_byte_or_timestamp_is_a_mismatch)
{
    char s[72], copy[sizeof body];

    cr_assert_eq(sig_sign(SECRET, NOW, body, sizeof body - 1, s), 0);
    for (size_t i = 0; i < sizeof body - 1; i++) {
        memcpy(copy, body, sizeof body);
        copy[i] ^= 0x01;
        cr_expect_eq(verify_now("1700000000", s, copy, sizeof body - 1), SIG_MISMATCH, "byte %zu",
                     i);
    }
    cr_expect_eq(verify_now("1700000001", s, body, sizeof body - 1), SIG_MISMATCH);
    cr_expect_eq(verify_now("1699999999", s, body, sizeof body - 1), SIG_MISMATCH);
    /* Same number, different text: the MAC covers the header as sent. */
    cr_expect_eq(verify_now("01700000000", s, body, sizeof body - 1), SIG_MISMATCH);
    cr_expect_eq(verify_now("1700000000", s, body, sizeof body - 2), SIG_MISMATCH);
}

Test(sig, mac_covers_the_timestamp_text_as_sent)
{
    char s[72];

    reference_sig(SECRET, "01700000000", body, sizeof body - 1, s);
    cr_assert_eq(verify_now("01700000000", s, body, sizeof body - 1), SIG_OK);
}

Test(sig, flipped_signature_digit_is_a_mismatch)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, body, sizeof body - 1, s), 0);
    for (size_t i = 7; i < 71; i++) {
        char saved = s[i];

        s[i] = saved == '0' ? '1' : '0';
        cr_expect_eq(verify_now("1700000000", s, body, sizeof body - 1), SIG_MISMATCH, "digit %zu",
                     i);
        s[i] = saved;
    }
}

Test(sig, body_with_nul_bytes_is_covered_in_full)
{
    static const unsigned char bin[] = {'{', 0, 0, 'x', 0, '}', 0, 0xFF};
    char s[72], want[72];

    cr_assert_eq(sig_sign(SECRET, NOW, bin, sizeof bin, s), 0);
    reference_sig(SECRET, "1700000000", bin, sizeof bin, want);
    cr_assert_str_eq(s, want);
    cr_assert_eq(verify_now("1700000000", s, bin, sizeof bin), SIG_OK);
    /* Stopping at the first NUL would sign "{" only. */
    cr_assert_eq(verify_now("1700000000", s, bin, 1), SIG_MISMATCH);
    cr_assert_eq(verify_now("1700000000", s, bin, sizeof bin - 1), SIG_MISMATCH);
}

Test(sig, empty_body_verifies_with_null_pointer)
{
    char s[72];

    cr_assert_eq(sig_sign(SECRET, NOW, NULL, 0, s), 0);
    cr_assert_eq(verify_now("1700000000", s, NULL, 0), SIG_OK);
    cr_assert_eq(verify_now("1700000000", s, "", 0), SIG_OK);
}

Test(sig, result_strings_are_distinct_and_never_null)
{
    static const char *const want[] = {"ok", "missing signature", "malformed signature",
                                       "stale timestamp", "signature mismatch"};

    for (int r = SIG_OK; r <= SIG_MISMATCH; r++)
        cr_expect_str_eq(sig_result_str((enum sig_result)r), want[r]);
    cr_expect_not_null(sig_result_str((enum sig_result)99));
    cr_expect_not_null(sig_result_str((enum sig_result) - 1));
}

/* --- Standard Webhooks ---------------------------------------------------------------- */

/* The example of the Standard Webhooks reference libraries' tests
 * (standard-webhooks/standard-webhooks, its libraries): computed by them, not
 * by sig.c; python3's hmac gives the same. */
#define STD_SECRET "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
#define STD_ID "msg_p5jXN8AQM9LWM0D4loKWxJek"
#define STD_TS "1614265330"
#define STD_NOW 1614265330
#define STD_BODY "{\"test\": 2432232314}"
#define STD_SIG "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
#define STD_OTHER "whsec_c2Vjb25kLWtleS1vZi1hdC1sZWFzdC0yNC1ieXRlcw=="

static enum sig_result
verify_std(const char *id, const char *ts, const char *sig, const char *b, const char *secret,
           const char *previous, int64_t now)
{
    return sig_verify_standard(id, ts, sig, b, b ? strlen(b) : 0, secret, previous, now, SKEW);
}

Test(sig, standard_published_vector_verifies_and_is_what_sign_makes)
{
    char out[SIG_STANDARD_LEN + 1];

    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW), SIG_OK);
    cr_assert_eq(sig_sign_standard(STD_SECRET, STD_ID, STD_NOW, STD_BODY, strlen(STD_BODY), out),
                 0);
    cr_assert_str_eq(out, STD_SIG);
}

Test(sig, standard_any_v1_entry_of_either_secret_verifies_during_a_rotation)
{
    static const char *const ok[] = {
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA= " STD_SIG,
        STD_SIG " v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg== " STD_SIG,
        "  " STD_SIG "  ",
    };

    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++)
        cr_assert_eq(verify_std(STD_ID, STD_TS, ok[i], STD_BODY, STD_SECRET, NULL, STD_NOW), SIG_OK,
                     "case %zu", i);
    /* The signing secret is the previous one now. */
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_OTHER, STD_SECRET, STD_NOW),
                 SIG_OK);
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_OTHER, NULL, STD_NOW),
                 SIG_MISMATCH);
}

Test(sig, standard_altered_id_timestamp_or_body_is_a_mismatch)
{
    cr_assert_eq(verify_std("msg_other", STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW),
                 SIG_MISMATCH);
    cr_assert_eq(verify_std(STD_ID, "1614265331", STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW),
                 SIG_MISMATCH);
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, "{\"test\": 2432232315}", STD_SECRET, NULL,
                            STD_NOW),
                 SIG_MISMATCH);
}

Test(sig, standard_stale_missing_and_malformed_headers)
{
    static const char *const malformed_sigs[] = {
        "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",     /* no version */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE",   /* unpadded */
        "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1O==",  /* 31 bytes */
        "v1,g0hM9SsE-OTPJTGt_tmIKtSyZlE3uFJELVlNIOLJ1OE=",  /* base64url */
        "v1a,hnO3f9T8Ytu9HwrXslvumlUpqtNVqkhqw/enGzPCXe5BdqzCInXqYXFymVJaA7AZdpXwVLPo3mNl8EM+m7TBAg==",
        ",abc",
        "v1,",
        " ",
    };

    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW + SKEW),
                 SIG_OK);
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL,
                            STD_NOW + SKEW + 1),
                 SIG_STALE);
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL,
                            STD_NOW - SKEW - 1),
                 SIG_STALE);
    cr_assert_eq(verify_std(NULL, STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW),
                 SIG_MISSING);
    cr_assert_eq(verify_std(STD_ID, "", STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW), SIG_MISSING);
    cr_assert_eq(verify_std(STD_ID, STD_TS, NULL, STD_BODY, STD_SECRET, NULL, STD_NOW), SIG_MISSING);
    cr_assert_eq(verify_std("msg 1", STD_TS, STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW),
                 SIG_MALFORMED);
    cr_assert_eq(verify_std(STD_ID, "16142653.0", STD_SIG, STD_BODY, STD_SECRET, NULL, STD_NOW),
                 SIG_MALFORMED);
    for (size_t i = 0; i < sizeof malformed_sigs / sizeof malformed_sigs[0]; i++)
        cr_assert_eq(verify_std(STD_ID, STD_TS, malformed_sigs[i], STD_BODY, STD_SECRET, NULL,
                                STD_NOW),
                     SIG_MALFORMED, "case %zu", i);
}

Test(sig, standard_secrets_are_whsec_and_24_to_64_bytes)
{
    unsigned char key[SIG_STANDARD_KEY_MAX];

    cr_assert_eq(sig_standard_key(STD_SECRET, key), 24);
    cr_assert_eq(sig_standard_key("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", key), -1);
    cr_assert_eq(sig_standard_key("whsec_c2hvcnQ=", key), -1); /* "short" */
    cr_assert_eq(sig_standard_key("whsec_not base64!", key), -1);
    cr_assert_eq(sig_standard_key(NULL, key), -1);
    /* A key that does not decode never verifies anything. */
    cr_assert_eq(verify_std(STD_ID, STD_TS, STD_SIG, STD_BODY, "whsec_c2hvcnQ=", NULL, STD_NOW),
                 SIG_MISMATCH);
}
