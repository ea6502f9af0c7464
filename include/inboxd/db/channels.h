/*
 * db_channels: the SQL of an account's channels (API.md "Account, users,
 * channels").
 *
 * Every function takes the caller first and runs one transaction; rows are
 * rendered by the schema's inboxd_json_channel(). Another account's channel
 * is a 404, exactly like a missing one. `externalId` is unique per account.
 */
#ifndef INBOXD_DB_CHANNELS_H
#define INBOXD_DB_CHANNELS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

struct dbconn;

/*
 * A validated channel body. Everything is borrowed (from the parsed request
 * body) and already checked by the route: type one of the ChannelType
 * names, no NUL, lengths, metadata an object of at most 64 KiB.
 *
 * POST: type, external_id and name are set; metadata NULL means {}.
 * PATCH: name and metadata change when not NULL; type and external_id are
 * ignored (they never change).
 */
struct channel_in {
    const char *type;
    const char *external_id;
    const char *name;
    const json_t *metadata;
};

/* What db_channels_upsert_in() found or made. */
struct channel_upsert {
    char id[37];  /* the channel's id, new or stored */
    bool created; /* true: inserted now */
    bool same;    /* the stored channel has the request's type and name (true when created) */
    char *json;   /* inboxd_json_channel() of the row: malloc()ed, the caller's to free */
    size_t len;
};

/* GET /v1/channels: a page of the account's channels, oldest first (by id,
 * which is time-ordered). *json: new malloc()ed page text (caller free()s),
 * length in *len. Statuses: 503. */
int db_channels_list(const struct who *w, const struct page *pg, char **json, size_t *len,
                     struct problem *pb) __attribute__((warn_unused_result));

/* GET /v1/channels/{id}. *json: new malloc()ed. Statuses: 404, 503. */
int db_channels_get(const struct who *w, const char *id, char **json, size_t *len,
                    struct problem *pb) __attribute__((warn_unused_result));

/*
 * POST /v1/channels: inserts a channel and audits "channel.create". When
 * the externalId is already used in the account nothing is written: the
 * stored channel is answered with *created false when its type and name
 * equal the request's (openapi.json's rule; metadata is not compared),
 * else 409. *json: new malloc()ed; *created true for a new row.
 * Statuses: 409, 500 (OOM), 503.
 */
int db_channels_insert(const struct who *w, const struct channel_in *in, char **json, size_t *len,
                       bool *created, struct problem *pb) __attribute__((warn_unused_result));

/*
 * PATCH /v1/channels/{id}: changes name and/or metadata (metadata is
 * replaced whole), sets updated_at and audits "channel.update", in one
 * transaction. *json: new malloc()ed. Statuses: 404, 500 (OOM), 503.
 */
int db_channels_update(const struct who *w, const char *id, const struct channel_in *in,
                       char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * The insert-or-find of POST /v1/channels, inside the caller's transaction
 * c, so another write (a webhook delivery) can create its channel in its
 * own transaction: inserts the channel with id new_id (ON CONFLICT on the
 * account's externalId DO NOTHING, which waits for a racing inserter) and
 * audits "channel.create"; or, when the externalId is stored, changes
 * nothing and answers the stored row, out->same telling whether its type
 * and name are in's (the caller decides whether a difference matters).
 * in->metadata NULL means {}. out is reset first (its json freed), so a
 * transaction that runs again may pass the same out; on failure out->json
 * is NULL. Statuses: 409 (the stored row vanished), 500 (OOM), 503.
 */
int db_channels_upsert_in(struct dbconn *c, const struct who *w, const struct channel_in *in,
                          const char *new_id, struct channel_upsert *out, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
