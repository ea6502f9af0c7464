/*
 * tls: the server certificate, and client certificates, for
 * libmicrohttpd's GnuTLS sessions.
 *
 * DESIGN. libmicrohttpd keeps the certificate it is started with
 * (MHD_OPTION_HTTPS_MEM_CERT) for its whole life, and asks for a client
 * certificate (MHD_OPTION_HTTPS_MEM_TRUST) without ever verifying one. So
 * inboxd starts it with a certificate callback instead
 * (MHD_OPTION_HTTPS_CERT_CALLBACK2), which GnuTLS calls once per
 * handshake while it reads the ClientHello, before it sends anything:
 * the callback hands the session copies of the chain and key in force
 * (GnuTLS frees them with the session, GNUTLS_CERT_RETR_DEINIT_ALL, so a
 * reload never frees what a session uses), and when a client CA is set
 * it makes the session require a client certificate and verify it with
 * our function, against our trust list: a missing, unknown, expired or
 * non-client certificate fails the handshake. Neither tickets nor session
 * ids are enabled (GnuTLS servers issue none unless told to), so every
 * connection makes a full handshake and is checked.
 *
 * The set in force (certificate chain, key, client CA, client names) is
 * immutable and shared (shared.h): tls_load() publishes a new one, and
 * the old one goes when its last user lets go.
 *
 * Never here: reading a request, or deciding what a scope allows.
 */
#include "inboxd/http/tls.h"

#include <gnutls/x509.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/http/server.h"
#include "inboxd/lib/log.h"
#include "inboxd/lib/scope.h"
#include "inboxd/lib/shared.h"

/* Longest chain read from tls_cert or shown by a client. */
#define CHAIN_MAX 16
#define ALL_SCOPES (~0u)

struct tls_set {
    struct shared shared;            /* first: the set is its struct shared */
    unsigned gen;                    /* tells sets apart, for the connections' records */
    gnutls_datum_t chain[CHAIN_MAX]; /* the server's chain, DER, leaf first */
    unsigned nchain;
    gnutls_datum_t key;             /* the server's key, as read (PEM) */
    gnutls_x509_trust_list_t trust; /* the client CA; NULL: no client certificate asked */
    char *names;                    /* tls_client_names rules; "" when any name may */
};

/* What a connection's client certificate was found to be, for the set
 * `gen`; the loop thread alone reads and writes it. */
struct tls_peer {
    unsigned gen; /* 0: not checked yet */
    time_t until; /* the earliest expiry of its chain */
    unsigned scopes;
    char name[TLS_NAME_MAX];
};

static struct shared_slot in_force = SHARED_SLOT_INIT;
static atomic_uint next_gen;

static void
set_free(struct tls_set *s)
{
    if (s == NULL)
        return;
    for (unsigned i = 0; i < s->nchain; i++)
        gnutls_free(s->chain[i].data);
    if (s->key.data != NULL) {
        gnutls_memset(s->key.data, 0, s->key.size);
        gnutls_free(s->key.data);
    }
    if (s->trust != NULL)
        gnutls_x509_trust_list_deinit(s->trust, 1);
    free(s->names);
    free(s);
}

static void
free_shared(struct shared *sh)
{
    set_free((struct tls_set *)(void *)sh);
}

static struct tls_set *
set_hold(void)
{
    return (struct tls_set *)(void *)shared_hold(&in_force);
}

static void
set_release(struct tls_set *s)
{
    shared_release(s ? &s->shared : NULL);
}

/* --- loading ------------------------------------------------------------------ */

static int
load_fail(char *err, size_t errlen, const char *key, const char *path, int gnutls_rc)
{
    snprintf(err, errlen, "%s %s: %s", key, path, gnutls_strerror(gnutls_rc));
    return -1;
}

/* The chain of tls_cert as DER, leaf first. */
static int
load_chain(struct tls_set *s, const char *path, char *err, size_t errlen)
{
    gnutls_datum_t pem = {NULL, 0};
    gnutls_x509_crt_t *crts = NULL;
    unsigned n = 0;
    int rc;

    if ((rc = gnutls_load_file(path, &pem)) < 0)
        return load_fail(err, errlen, "tls_cert", path, rc);
    rc = gnutls_x509_crt_list_import2(&crts, &n, &pem, GNUTLS_X509_FMT_PEM,
                                      GNUTLS_X509_CRT_LIST_FAIL_IF_UNSORTED);
    gnutls_free(pem.data);
    if (rc < 0)
        return load_fail(err, errlen, "tls_cert", path, rc);
    for (unsigned i = 0; i < n; i++) {
        if (rc >= 0 && i < CHAIN_MAX) {
            rc = gnutls_x509_crt_export2(crts[i], GNUTLS_X509_FMT_DER, &s->chain[i]);
            if (rc >= 0)
                s->nchain++;
        }
        gnutls_x509_crt_deinit(crts[i]);
    }
    gnutls_free(crts);
    if (rc < 0)
        return load_fail(err, errlen, "tls_cert", path, rc);
    if (n == 0 || n > CHAIN_MAX) {
        snprintf(err, errlen, "tls_cert %s: expected 1 to %d certificates", path, CHAIN_MAX);
        return -1;
    }
    return 0;
}

/* Whether the key is the leaf certificate's: GnuTLS checks it when both
 * go into a credentials structure, which is then thrown away. */
static int
check_key(const struct tls_set *s, const char *certpath, const char *keypath, char *err,
          size_t errlen)
{
    gnutls_certificate_credentials_t cred;
    gnutls_pcert_st pcert;
    gnutls_privkey_t key;
    int rc;

    if ((rc = gnutls_certificate_allocate_credentials(&cred)) < 0)
        return load_fail(err, errlen, "tls_cert", certpath, rc);
    if ((rc = gnutls_privkey_init(&key)) < 0) {
        gnutls_certificate_free_credentials(cred);
        return load_fail(err, errlen, "tls_key", keypath, rc);
    }
    rc = gnutls_privkey_import_x509_raw(key, &s->key, GNUTLS_X509_FMT_PEM, NULL, 0);
    if (rc < 0) {
        gnutls_privkey_deinit(key);
        gnutls_certificate_free_credentials(cred);
        return load_fail(err, errlen, "tls_key", keypath, rc);
    }
    rc = gnutls_pcert_import_x509_raw(&pcert, &s->chain[0], GNUTLS_X509_FMT_DER, 0);
    if (rc >= 0) {
        /* Takes the key and the certificate on success. */
        rc = gnutls_certificate_set_key(cred, NULL, 0, &pcert, 1, key);
        if (rc < 0)
            gnutls_pcert_deinit(&pcert);
    }
    if (rc < 0)
        gnutls_privkey_deinit(key);
    gnutls_certificate_free_credentials(cred);
    if (rc < 0)
        return load_fail(err, errlen, "tls_key", keypath, rc);
    return 0;
}

static int
load_trust(struct tls_set *s, const char *path, char *err, size_t errlen)
{
    int rc;

    if ((rc = gnutls_x509_trust_list_init(&s->trust, 0)) < 0) {
        s->trust = NULL;
        return load_fail(err, errlen, "tls_client_ca", path, rc);
    }
    rc = gnutls_x509_trust_list_add_trust_file(s->trust, path, NULL, GNUTLS_X509_FMT_PEM, 0, 0);
    if (rc < 0)
        return load_fail(err, errlen, "tls_client_ca", path, rc);
    if (rc == 0) {
        snprintf(err, errlen, "tls_client_ca %s: no certificate in it", path);
        return -1;
    }
    return 0;
}

int
tls_load(const struct config *cf, char *err, size_t errlen)
{
    struct tls_set *s;
    int rc;

    if (cf->tls_cert[0] == '\0')
        return 0;
    s = calloc(1, sizeof(*s));
    if (s == NULL || (s->names = strdup(cf->tls_client_names)) == NULL) {
        free(s);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (load_chain(s, cf->tls_cert, err, errlen) != 0)
        goto fail;
    if ((rc = gnutls_load_file(cf->tls_key, &s->key)) < 0) {
        s->key.data = NULL;
        load_fail(err, errlen, "tls_key", cf->tls_key, rc);
        goto fail;
    }
    if (check_key(s, cf->tls_cert, cf->tls_key, err, errlen) != 0)
        goto fail;
    if (cf->tls_client_ca[0] != '\0' && load_trust(s, cf->tls_client_ca, err, errlen) != 0)
        goto fail;
    s->gen = atomic_fetch_add(&next_gen, 1) + 1;
    s->shared.free = free_shared;
    shared_publish(&in_force, &s->shared);
    return 0;
fail:
    set_free(s);
    return -1;
}

void
tls_clear(void)
{
    shared_publish(&in_force, NULL);
}

/* --- client certificates ------------------------------------------------------ */

/*
 * Verifies the session's client chain against s's client CA, for client
 * authentication (extended key usage, when the certificate has one), at
 * the current time. Fills *until with the chain's earliest expiry and
 * *leaf with the leaf (caller deinits). Returns 0, or -1 with why.
 */
static int
verify_peer(gnutls_session_t session, const struct tls_set *s, time_t *until,
            gnutls_x509_crt_t *leaf, char *why, size_t whylen)
{
    gnutls_typed_vdata_st purpose = {GNUTLS_DT_KEY_PURPOSE_OID,
                                     (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0};
    gnutls_x509_crt_t crts[CHAIN_MAX];
    const gnutls_datum_t *peers;
    unsigned npeers = 0, n = 0, status = 0;
    gnutls_datum_t text = {NULL, 0};
    int rc = -1;

    *leaf = NULL;
    peers = gnutls_certificate_get_peers(session, &npeers);
    if (peers == NULL || npeers == 0) {
        snprintf(why, whylen, "no client certificate");
        return -1;
    }
    if (npeers > CHAIN_MAX)
        npeers = CHAIN_MAX;
    while (n < npeers) {
        if (gnutls_x509_crt_init(&crts[n]) < 0) {
            snprintf(why, whylen, "out of memory");
            goto out;
        }
        n++; /* from here on, out: deinits it */
        if (gnutls_x509_crt_import(crts[n - 1], &peers[n - 1], GNUTLS_X509_FMT_DER) < 0) {
            snprintf(why, whylen, "the client certificate cannot be parsed");
            goto out;
        }
    }
    if (gnutls_x509_trust_list_verify_crt2(s->trust, crts, n, &purpose, 1, 0, &status, NULL) < 0) {
        snprintf(why, whylen, "the client certificate cannot be verified");
        goto out;
    }
    if (status != 0) {
        if (gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) >= 0)
            snprintf(why, whylen, "%s", (const char *)text.data);
        else
            snprintf(why, whylen, "the client certificate is not trusted");
        gnutls_free(text.data);
        goto out;
    }
    *until = gnutls_x509_crt_get_expiration_time(crts[0]);
    for (unsigned i = 1; i < n; i++) {
        time_t t = gnutls_x509_crt_get_expiration_time(crts[i]);

        if (t < *until)
            *until = t;
    }
    *leaf = crts[0];
    crts[0] = NULL;
    rc = 0;
out:
    for (unsigned i = 0; i < n; i++)
        if (crts[i] != NULL)
            gnutls_x509_crt_deinit(crts[i]);
    return rc;
}

/* The handshake's check (gnutls_session_set_verify_function): 0 accepts. */
static int
verify_handshake(gnutls_session_t session)
{
    struct tls_set *s = set_hold();
    gnutls_x509_crt_t leaf = NULL;
    char why[256];
    time_t until;
    int rc = 0;

    /* A reload removed the client CA since this handshake began. */
    if (s != NULL && s->trust != NULL) {
        rc = verify_peer(session, s, &until, &leaf, why, sizeof(why));
        if (rc != 0)
            log_event(LOG_INFO, NULL, "tls.client_refused", LOG_S("err", why));
        gnutls_x509_crt_deinit(leaf);
    }
    set_release(s);
    return rc;
}

/* Adds to *scopes what tls_client_names gives one name; true when an
 * entry named it. */
static bool
name_scopes(const char *rules, const char *name, unsigned *scopes)
{
    char err[8];

    return config_client_scopes(rules, name, scopes, err, sizeof(err)) > 0;
}

/* The certificate's name for logs (CN, else its first alternative name)
 * and the scopes its names may use under s's rules. */
static void
peer_scopes(const struct tls_set *s, gnutls_x509_crt_t leaf, struct tls_peer *p)
{
    char buf[TLS_NAME_MAX];
    size_t size = sizeof(buf);

    p->name[0] = '\0';
    p->scopes = s->names[0] == '\0' ? ALL_SCOPES : 0;
    if (gnutls_x509_crt_get_dn_by_oid(leaf, GNUTLS_OID_X520_COMMON_NAME, 0, 0, buf, &size) >= 0) {
        snprintf(p->name, sizeof(p->name), "%s", buf);
        name_scopes(s->names, buf, &p->scopes);
    }
    for (unsigned i = 0;; i++) {
        int type;

        size = sizeof(buf);
        type = gnutls_x509_crt_get_subject_alt_name(leaf, i, buf, &size, NULL);
        if (type == GNUTLS_E_REQUESTED_DATA_NOT_AVAILABLE)
            break;
        if (type != GNUTLS_SAN_DNSNAME && type != GNUTLS_SAN_URI && type != GNUTLS_SAN_RFC822NAME)
            continue;
        if (p->name[0] == '\0')
            snprintf(p->name, sizeof(p->name), "%s", buf);
        name_scopes(s->names, buf, &p->scopes);
    }
}

int
tls_client_check(struct MHD_Connection *conn, unsigned *scopes, char name[TLS_NAME_MAX],
                 struct problem *pb)
{
    const union MHD_ConnectionInfo *ci;
    struct tls_set *s;
    struct tls_peer *p;
    int rc = 0;

    *scopes = ALL_SCOPES;
    name[0] = '\0';
    s = set_hold();
    if (s == NULL || s->trust == NULL)
        goto out;
    p = server_tls_peer(conn);
    if (p == NULL) {
        rc = problem_internal(pb, "no TLS record for the connection");
        goto out;
    }
    if (p->gen != s->gen || time(NULL) >= p->until) {
        gnutls_x509_crt_t leaf = NULL;
        char why[256];

        ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
        p->gen = 0;
        if (ci == NULL || ci->tls_session == NULL) {
            snprintf(why, sizeof(why), "no TLS session");
        } else if (verify_peer(ci->tls_session, s, &p->until, &leaf, why, sizeof(why)) == 0) {
            peer_scopes(s, leaf, p);
            gnutls_x509_crt_deinit(leaf);
            p->gen = s->gen;
        }
        if (p->gen == 0) {
            log_event(LOG_INFO, NULL, "tls.client_refused", LOG_S("err", why));
            rc = problem_set(pb, 401, "client-certificate-refused",
                             "the client certificate is not valid: %s", why);
            goto out;
        }
    }
    *scopes = p->scopes;
    memcpy(name, p->name, TLS_NAME_MAX);
out:
    set_release(s);
    return rc;
}

void *
tls_peer_new(void)
{
    return calloc(1, sizeof(struct tls_peer));
}

void
tls_peer_free(void *peer)
{
    free(peer);
}

/* --- the handshake ------------------------------------------------------------- */

int
tls_cert_callback(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                  gnutls_pcert_st **pcert, unsigned int *pcert_length, gnutls_ocsp_data_st **ocsp,
                  unsigned int *ocsp_length, gnutls_privkey_t *privkey, unsigned int *flags)
{
    struct tls_set *s = set_hold();
    gnutls_pcert_st *certs = NULL;
    gnutls_privkey_t key = NULL;
    unsigned n = 0;
    int rc = -1;

    (void)info;
    *pcert = NULL;
    *pcert_length = 0;
    *ocsp = NULL;
    *ocsp_length = 0;
    *privkey = NULL;
    if (s == NULL)
        goto out;
    certs = gnutls_calloc(s->nchain, sizeof(*certs));
    if (certs == NULL)
        goto out;
    for (; n < s->nchain; n++)
        if (gnutls_pcert_import_x509_raw(&certs[n], &s->chain[n], GNUTLS_X509_FMT_DER, 0) < 0)
            goto out;
    if (gnutls_privkey_init(&key) < 0)
        goto out;
    if (gnutls_privkey_import_x509_raw(key, &s->key, GNUTLS_X509_FMT_PEM, NULL, 0) < 0)
        goto out;
    /* Still in the ClientHello: nothing is sent yet, so the request for
     * a client certificate and its check can be set on this session. */
    if (s->trust != NULL) {
        gnutls_certificate_server_set_request(session, GNUTLS_CERT_REQUIRE);
        gnutls_session_set_verify_function(session, verify_handshake);
    }
    *pcert = certs;
    *pcert_length = n;
    *privkey = key;
    *flags = GNUTLS_CERT_RETR_DEINIT_ALL; /* the session frees them */
    certs = NULL;
    key = NULL;
    rc = 0;
out:
    if (certs != NULL) {
        for (unsigned i = 0; i < n; i++)
            gnutls_pcert_deinit(&certs[i]);
        gnutls_free(certs);
    }
    if (key != NULL)
        gnutls_privkey_deinit(key);
    if (rc != 0)
        log_plain(LOG_ERROR, NULL, "tls.no_certificate");
    set_release(s);
    return rc;
}
