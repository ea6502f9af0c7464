/*
 * who: the caller of one request, as every db function takes it first.
 *
 * The HTTP layer fills it (auth.h from an API key, the webhook route from
 * a signature); the db layer scopes every statement to its account and
 * writes its key, request id and address into the audit log.
 */
#ifndef INBOXD_WHO_H
#define INBOXD_WHO_H

#define AUTH_KEY_LEN 56       /* "ibx_" 8 "_" 43 */
#define AUTH_PREFIX_LEN 12    /* "ibx_" 8 */
#define AUTH_HASH_HEX 64      /* a SHA-256 in hex */

struct who {
    char account_id[37];
    char key_id[37];          /* "" for webhook deliveries */
    char key_prefix[AUTH_PREFIX_LEN + 1];
    unsigned scopes;
    const char *request_id;   /* borrowed from the request */
    const char *ip;           /* borrowed; for the audit log */
    const char *user_agent;   /* borrowed; may be NULL */
    char request_hash[AUTH_HASH_HEX + 1]; /* SHA-256 of the raw body; "" before it is known */
};

#endif
