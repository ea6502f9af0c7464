/*
 * tls: HTTPS for the HTTP layer: the server certificate every handshake
 * gets, and the client certificates a handshake and a request must show
 * when tls_client_ca is set (README "Operations: TLS and certificate
 * rotation").
 *
 * The certificate, key, client CA and client names in force are one
 * immutable set that tls_load() replaces (a reload): new handshakes and
 * connections use the new set, connections already open keep theirs.
 */
#ifndef INBOXD_TLS_H
#define INBOXD_TLS_H

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/lib/config.h"
#include "inboxd/lib/problem.h"

/* A client certificate name, as logged and checked against
 * tls_client_names (its CN, or its first subject alternative name). */
#define TLS_NAME_MAX 128

/*
 * Reads the files cf names (tls_cert, tls_key, tls_client_ca) and makes
 * them, with tls_client_names, the set new handshakes use. With tls_cert
 * empty there is nothing to load and nothing changes. Returns 0, or -1
 * with err (a file missing or not PEM, a key that is not the
 * certificate's); then the set in force stays as it was.
 */
int tls_load(const struct config *cf, char *err, size_t errlen) __attribute__((warn_unused_result));

/* Drops the set in force (at stop, once no handshake can run). */
void tls_clear(void);

/* For MHD_OPTION_HTTPS_CERT_CALLBACK2: hands a handshake copies of the
 * certificate chain and key in force, and when a client CA is set,
 * requires a client certificate and verifies it (else the handshake
 * fails). */
int tls_cert_callback(gnutls_session_t session, const struct gnutls_cert_retr_st *info,
                      gnutls_pcert_st **pcert, unsigned int *pcert_length,
                      gnutls_ocsp_data_st **ocsp, unsigned int *ocsp_length,
                      gnutls_privkey_t *privkey, unsigned int *flags);

/* A connection's record of its client certificate, which the server makes
 * when an HTTPS connection opens (NULL when out of memory: that
 * connection's requests get a 500) and frees when it closes. */
void *tls_peer_new(void);
void tls_peer_free(void *peer);

/*
 * The request path's check of the client certificate (the handshake
 * checked it already; this is defence in depth, and the certificate may
 * have expired on a long connection since): verified against the client
 * CA in force, once per connection and set. *scopes gets the scopes the
 * certificate's names may use (every scope without tls_client_names or
 * without a client CA), name the certificate's name ("" without one).
 * Returns 0, or -1 with pb (401 client-certificate-refused). Runs on the
 * loop thread only.
 */
int tls_client_check(struct MHD_Connection *conn, unsigned *scopes, char name[TLS_NAME_MAX],
                     struct problem *pb) __attribute__((warn_unused_result));

#endif
