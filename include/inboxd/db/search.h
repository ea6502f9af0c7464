/*
 * db_search: full-text search over an account's messages (API.md
 * "Conversations and messages", GET /v1/search/messages).
 *
 * Queries are PostgreSQL web-search syntax (websearch_to_tsquery with the
 * 'english' configuration) over messages.search_vector (subject weighted A,
 * body B); the newest SEARCH_RANKED_MAX matches ranked by ts_rank_cd, best
 * first.
 */
#ifndef INBOXD_DB_SEARCH_H
#define INBOXD_DB_SEARCH_H

#include <stddef.h>

#include "inboxd/db/who.h"
#include "inboxd/lib/page.h"
#include "inboxd/lib/problem.h"

/* How many matches are ranked, as SQL text: the newest this many (by id,
 * the order messages were stored in). Past it a search ranks recent mail,
 * not all of it, and costs about the same however common its words are. */
#define SEARCH_RANKED_MAX "10000"

/* The longest query accepted, in bytes. */
#define SEARCH_QUERY_MAX 1000

/*
 * A page of hits `{message, conversationId, rank, snippet}` for query q
 * (non-empty valid UTF-8, at most SEARCH_QUERY_MAX bytes, checked by the
 * caller), optionally within one conversation (NULL: all). Messages of
 * soft-deleted conversations never match. Order: rank descending, then
 * newest id first; pg's cursor (a ranking position, see db_search.c)
 * continues it. *json: new malloc()ed page text (caller free()s).
 * Statuses: 400 (a query PostgreSQL refuses, naming `q`), 503.
 */
int db_search_messages(const struct who *w, const char *q, const char *conversation_id,
                       const struct page *pg, char **json, size_t *len, struct problem *pb)
    __attribute__((warn_unused_result));

#endif
