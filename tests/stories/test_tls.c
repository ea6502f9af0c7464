/* HTTPS and client certificates, for real: certificates made by certtool
 * at test time (tests/tls/make-certs.sh), inboxd serving TLS through
 * libmicrohttpd and GnuTLS, libcurl (GnuTLS) as the client. A reload
 * swaps the server certificate under running traffic. */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"
#include "inboxd/app.h"

static char certs[PATH_MAX];
/* What t.tls_ca, t.tls_cert and t.tls_key point to. */
static char ca_file[PATH_MAX + 64], client_pem[PATH_MAX + 64], client_key[PATH_MAX + 64];

/* certs/<name>.<ext>, in a static buffer of its own (8 at a time). */
static const char *
cert(const char *name, const char *ext)
{
    static char bufs[8][PATH_MAX + 64];
    static int next;
    char *b = bufs[next++ % 8];

    snprintf(b, PATH_MAX + 64, "%s/%s.%s", certs, name, ext);
    return b;
}

static void
make_certs(void)
{
    char cmd[PATH_MAX * 2];

    snprintf(certs, sizeof(certs), "/tmp/inboxd-tls-XXXXXX");
    cr_assert_not_null(mkdtemp(certs));
    snprintf(cmd, sizeof(cmd), "sh '%s/tests/tls/make-certs.sh' '%s'", SOURCE_ROOT, certs);
    cr_assert_eq(system(cmd), 0, "%s failed (is certtool, gnutls-bin, installed?)", cmd);
}

/* Shows the client certificate `name` (NULL: none) from now on. */
static void
client(const char *name)
{
    snprintf(client_pem, sizeof(client_pem), "%s", name ? cert(name, "pem") : "");
    snprintf(client_key, sizeof(client_key), "%s", name ? cert(name, "key") : "");
    t.tls_cert = name ? client_pem : NULL;
    t.tls_key = name ? client_key : NULL;
}

static void
start(bool clients)
{
    char c[PATH_MAX + 64], k[PATH_MAX + 64], ca[PATH_MAX + 64];
    const char *settings[] = {c, k, clients ? ca : NULL,
                              "tls_client_names=sync.internal=messages:write outbox:write, "
                              "dashboard.internal=read drafts:write actions:write",
                              NULL};

    make_certs();
    snprintf(c, sizeof(c), "tls_cert=%s", cert("server", "pem"));
    snprintf(k, sizeof(k), "tls_key=%s", cert("server", "key"));
    snprintf(ca, sizeof(ca), "tls_client_ca=%s", cert("ca", "pem"));
    fx_start(NULL, settings);
    snprintf(ca_file, sizeof(ca_file), "%s", cert("ca", "pem"));
    t.tls_ca = ca_file;
    if (clients)
        client("dashboard.internal");
    curl_global_init(CURL_GLOBAL_ALL);
}

static void
setup_https(void)
{
    start(false);
}

static void
setup_mtls(void)
{
    start(true);
}

static void
teardown(void)
{
    char cmd[PATH_MAX + 32];

    fx_teardown();
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", certs);
    if (certs[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", certs);
}

TestSuite(https, .init = setup_https, .fini = teardown, .timeout = 120);
TestSuite(mtls, .init = setup_mtls, .fini = teardown, .timeout = 120);

/* Reloads with the certificate settings changed (NULL: unchanged). */
static int
reload_with(const char *tls_cert, const char *tls_key, const char *names)
{
    struct config *cf = config_dup(&t.cf);
    int rc;

    cr_assert_not_null(cf);
    if (tls_cert) {
        free(cf->tls_cert);
        cf->tls_cert = strdup(tls_cert);
        free(cf->tls_key);
        cf->tls_key = strdup(tls_key);
    }
    if (names) {
        free(cf->tls_client_names);
        cf->tls_client_names = strdup(names);
    }
    rc = app_reload(cf);
    config_cleanup(cf);
    free(cf);
    return rc;
}

/* The subject of the certificate a new connection gets. */
static void
server_subject(char *out, size_t outlen)
{
    struct curl_slist *hl;
    struct curl_certinfo *ci = NULL;
    CURL *c = fx_curl("/healthz", &hl);
    CURLcode rc;

    out[0] = '\0';
    curl_easy_setopt(c, CURLOPT_CERTINFO, 1L);
    rc = curl_easy_perform(c);
    cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
    cr_assert_eq(curl_easy_getinfo(c, CURLINFO_CERTINFO, &ci), CURLE_OK);
    cr_assert(ci != NULL && ci->num_of_certs > 0);
    for (struct curl_slist *s = ci->certinfo[0]; s; s = s->next)
        if (strncmp(s->data, "Subject:", 8) == 0)
            snprintf(out, outlen, "%s", s->data + 8);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    cr_assert(out[0], "no subject in the certificate info");
}

/* --- HTTPS --------------------------------------------------------------------- */

Test(https, serves_over_tls_and_not_in_plain_text)
{
    char plain[64];
    struct resp r;

    th_get(&t, "/v1/account", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    snprintf(plain, sizeof(plain), "%s", t.base);
    memmove(t.base + 4, t.base + 5, strlen(t.base + 5) + 1); /* https -> http */
    cr_assert_neq(th_http_try(&t, "GET", "/healthz", NULL, NULL, NULL, &r), 0,
                  "plain HTTP answered on the HTTPS port");
    snprintf(t.base, sizeof(t.base), "%s", plain);
}

Test(https, a_reload_swaps_the_certificate_of_new_connections_without_failing_a_request)
{
    struct fx_stream kept = {.path = "/v1/account"}, fresh = {.path = "/v1/account", .fresh = true};
    char subject[512];

    server_subject(subject, sizeof(subject));
    cr_assert(strstr(subject, "CN=server") && !strstr(subject, "server2"), "%s", subject);
    fx_stream_start(&kept);
    fx_stream_start(&fresh);
    fx_stream_advance(&kept, 20);
    fx_stream_advance(&fresh, 5);

    cr_assert_eq(reload_with(cert("server2", "pem"), cert("server2", "key"), NULL), 0);
    fx_stream_advance(&kept, 20);
    fx_stream_advance(&fresh, 5);
    server_subject(subject, sizeof(subject));
    cr_assert(strstr(subject, "CN=server2"), "a new connection got %s", subject);

    /* A certificate that cannot be loaded changes nothing. */
    cr_assert_eq(reload_with(cert("nowhere", "pem"), cert("nowhere", "key"), NULL), -1);
    cr_assert_eq(reload_with(cert("server", "pem"), cert("server2", "key"), NULL), -1,
                 "a key that is not the certificate's");
    fx_stream_advance(&fresh, 5);
    server_subject(subject, sizeof(subject));
    cr_assert(strstr(subject, "CN=server2"), "%s", subject);

    fx_stream_stop(&kept);
    fx_stream_stop(&fresh);
    cr_assert_eq(atomic_load(&kept.failed) + atomic_load(&fresh.failed), 0,
                 "%d on the kept connection and %d on new ones failed", atomic_load(&kept.failed),
                 atomic_load(&fresh.failed));
    cr_assert_eq(kept.connects, 1, "the reload dropped the kept connection (%ld connects)",
                 kept.connects);
}

/* --- client certificates ------------------------------------------------------- */

Test(mtls, a_valid_client_certificate_is_served)
{
    struct resp r;

    th_get(&t, "/v1/account", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
}

Test(mtls, no_certificate_a_wrong_ca_or_an_expired_one_is_refused_in_the_handshake)
{
    static const char *const refused[] = {NULL, "wrong.internal", "expired.internal"};
    struct resp r;

    for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
        client(refused[i]);
        cr_assert_neq(th_http_try(&t, "GET", "/healthz", NULL, NULL, NULL, &r), 0,
                      "%s got an answer", refused[i] ? refused[i] : "no certificate");
    }
    client("dashboard.internal");
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
}

Test(mtls, a_name_is_refused_the_scopes_tls_client_names_does_not_give_it)
{
    struct resp r;

    /* The key has every scope; the sync service's certificate may not read. */
    client("sync.internal");
    th_get(&t, "/v1/account", key, &r);
    expect_problem(&r, 403);
    cr_assert(strstr(jstr(r.json, "detail"), "sync.internal"), "%s", r.body);
    resp_free(&r);
    /* Public routes need no scope. */
    th_get(&t, "/healthz", NULL, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);

    /* A reload gives it read. */
    cr_assert_eq(reload_with(NULL, NULL, "sync.internal=read messages:write"), 0);
    th_get(&t, "/v1/account", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    client("dashboard.internal");
    th_get(&t, "/v1/account", key, &r);
    expect_problem(&r, 403);
    resp_free(&r);
}
