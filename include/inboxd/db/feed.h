/*
 * db_feed: the SQL of the review feed (API.md "Review": GET /v1/feed).
 *
 * The feed is the account's open, not deleted conversations with a pending
 * draft, ordered by conversations.feed_at (the time of the latest inbound
 * message, kept by every write that changes it) and id. A page is a range
 * scan of the partial feed index giving each item's row version; items are
 * rendered by PostgreSQL (the conversation, channel, draft and latest
 * inbound message) only when the feed cache lacks that version.
 */
#ifndef INBOXD_DB_FEED_H
#define INBOXD_DB_FEED_H

#include <stdbool.h>
#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/parts.h"
#include "inboxd/lib/problem.h"

/*
 * GET /v1/feed: one page of `{conversation, channel, latestInbound, draft}`
 * items, longest waiting first (or newest first when `newest`), only the
 * channel's when channel_id is not NULL (an unknown channel gives an empty
 * page). The page cursor (pg, with a timestamp) is a (feed_at, id) position.
 * Statuses: 503. *body: the page JSON in pieces (the cached items stay
 * where they are; parts_free() it, or hand it to reply_parts()). With
 * gzip, a page sent again from the page table comes gzip-compressed
 * ((*body)->encoding "gzip"); a page just read comes plain.
 */
int db_feed_list(const struct who *w, const char *channel_id, bool newest, const struct page *pg,
                 bool gzip, bool look_for_kept, struct parts **body, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * The same page when a kept one is still current, without waiting
 * (db_query_start): done(arg, rc, pb) is called once, on another thread
 * or at once on this one. rc 0: *body is the page. rc 1: the kept page is
 * stale and rc 2: there is none to check (or it must be checked against a
 * replica): call db_feed_list(), with look_for_kept false after 1. -1:
 * pb. w, channel_id and pg must live until then; done must not block.
 */
typedef void (*db_feed_done_fn)(void *arg, int rc, const struct problem *pb);
void db_feed_list_start(const struct who *w, const char *channel_id, bool newest,
                        const struct page *pg, bool gzip, struct parts **body,
                        db_feed_done_fn done, void *arg);

/*
 * GET /v1/feed/summary: `{total, oldestWaitingSince, byChannel: [{channelId,
 * count, oldestWaitingSince}]}` of the queue the feed pages through (of
 * one channel when channel_id is not NULL; an unknown one counts 0), read
 * from the counts the schema keeps per channel, never by counting the
 * queue; exact at the statement's snapshot. byChannel lists the channels
 * with something waiting, by id. *json: new malloc()ed. Statuses: 503.
 */
int db_feed_summary(const struct who *w, const char *channel_id, char **json, size_t *len,
                    struct problem *pb) __attribute__((warn_unused_result));

#endif
