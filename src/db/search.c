/*
 * db_search: the SQL of message search.
 *
 * DESIGN. Only the newest SEARCH_RANKED_MAX matches are ranked, with
 * ts_rank_cd (subject words weigh A, body words B): ranking every match
 * made a word found in most messages cost a pass over most of the table
 * (2.3 s for 400,000 matches; past the statement timeout at 4 million).
 * The statement is planned with its values on every run, so the planner
 * picks by how common the words are: for a rare word the GIN index on
 * messages.search_vector and a sort of its few matches, for a common one
 * the primary key backwards, newest first, until enough match. Either way
 * a page costs at most SEARCH_RANKED_MAX ranks plus a top-N sort. Only the
 * page's rows are rendered and get a ts_headline snippet (headlines are
 * the expensive part).
 *
 * Pagination is a keyset over the ranking: (rank key descending, id
 * descending), where the rank key is the rank scaled to an integer
 * (round(rank * 1e9)). The key is computed by the same expression on every
 * page, so it is exact and repeatable where the float itself would not
 * round-trip through text; ties (equal rank) go newest first. The cursor is
 * the usual opaque (timestamp, id) cursor whose timestamp carries the key as
 * microseconds after the epoch: no offsets, and a row inserted or re-ranked
 * between pages never shifts the rest (new matches can push the oldest of
 * the ranked ones out of a later page's window: they are the least
 * recent). The key is capped at 2.5e17, far above any real rank, to stay
 * within the cursor's range.
 *
 * The snippet is made from the subject and body with &, <, >, " and '
 * HTML-escaped before ts_headline sees them (its parser keeps entities
 * whole), so the only markup in a snippet is the <b>…</b> it adds.
 *
 * Never here: HTTP. Never a message of another account or of a soft-deleted
 * conversation.
 */
#include "inboxd/db/search.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "inboxd/db/db.h"
#include "inboxd/db/rows.h"

enum {
    S_SEARCH,
};

/* The SQL reads as SQL: */
/* clang-format off */

/* x with &, <, >, " and ' as HTML entities. */
#define HTML_ESCAPE(x)                                                                             \
    "replace(replace(replace(replace(replace(" x ", '&', '&amp;'), '<', '&lt;'), '>', '&gt;'), "   \
    "'\"', '&quot;'), '''', '&#39;')"

/* The snippet of message m for the query h.q: subject and body, escaped,
 * with the matched words marked. */
#define SNIPPET                                                                                    \
    "ts_headline('english', " HTML_ESCAPE(                                                         \
        "coalesce(m.subject || E'\\n', '') || left(m.body_text, 100000)") ", h.q, "                \
    "  'StartSel=<b>, StopSel=</b>, MaxWords=35, MinWords=15, MaxFragments=2, "                    \
    "   FragmentDelimiter=\" ... \"')"

/* The rank key of a hit: its rank scaled to an integer (see DESIGN). */
#define RANK_KEY "least(round(ts_rank_cd(m.search_vector, q.q)::float8 * 1e9), 2.5e17)::int8"

/* The cursor's key and id ($4, $5), or a position before every hit. */
#define AFTER_KEY                                                                                  \
    "(coalesce((extract(epoch FROM $4::timestamptz) * 1000000)::int8, 9223372036854775807), "     \
    " coalesce($5::uuid, 'ffffffff-ffff-ffff-ffff-ffffffffffff'))"

/* $1 account, $2 query text, $3 conversation or NULL, $4/$5 the cursor (rank
 * key as a timestamp, id), $6 limit + 1. The innermost query finds the
 * newest SEARCH_RANKED_MAX matches; the next ranks them and keeps the page;
 * only the page's rows are rendered. The match is written against the
 * query text itself, not a column of a join, so that the planner (given
 * the values: db_exec_unprepared) sees the words and knows from the
 * column's statistics how many rows match. */
static const struct db_stmt stmts[] = {
    [S_SEARCH] = {"search_messages",
                  "SELECT json_build_object("
                  "         'message', inboxd_json_message("
                  "             m, inboxd_message_attachments(m.account_id, m.id)), "
                  "         'conversationId', m.conversation_id, "
                  "         'rank', h.rank, "
                  "         'snippet', " SNIPPET "), "
                  "       timestamptz 'epoch' + h.rk * interval '1 microsecond', "
                  "       h.id "
                  "FROM (SELECT r.id, r.rank, r.rk, r.q "
                  "      FROM (SELECT m.id, ts_rank_cd(m.search_vector, q.q) AS rank, "
                  "                   " RANK_KEY " AS rk, q.q "
                  "            FROM (SELECT m.id "
                  "                  FROM messages m "
                  "                  WHERE m.account_id = $1 "
                  "                    AND m.search_vector @@ websearch_to_tsquery('english', $2) "
                  "                    AND ($3::uuid IS NULL OR m.conversation_id = $3::uuid) "
                  "                    AND NOT EXISTS (SELECT FROM conversations c "
                  "                         WHERE c.account_id = m.account_id "
                  "                           AND c.id = m.conversation_id "
                  "                           AND c.deleted_at IS NOT NULL) "
                  "                  ORDER BY m.id DESC "
                  "                  LIMIT " SEARCH_RANKED_MAX ") n "
                  "            JOIN messages m ON m.account_id = $1 AND m.id = n.id, "
                  "                 websearch_to_tsquery('english', $2) AS q(q)) r "
                  "      WHERE (r.rk, r.id) < " AFTER_KEY " "
                  "      ORDER BY r.rk DESC, r.id DESC "
                  "      LIMIT $6) h "
                  "JOIN messages m ON m.account_id = $1 AND m.id = h.id "
                  "ORDER BY h.rk DESC, h.id DESC",
                  6},
};
/* clang-format on */

struct search {
    const char *const *params;
    const struct page *pg;
    char *json;
    size_t len;
};

/* A failure that comes from the query text rather than from the database:
 * data exceptions (class 22), syntax errors (42601) and program limits
 * (class 54, e.g. a tsquery too large). */
static bool
is_query_error(const struct problem *pb)
{
    return strncmp(pb->sqlstate, "22", 2) == 0 || strcmp(pb->sqlstate, "42601") == 0 ||
           strncmp(pb->sqlstate, "54", 2) == 0;
}

static int
search_fn(struct dbconn *c, void *arg, struct problem *pb)
{
    struct search *s = arg;
    PGresult *res = db_exec_unprepared(c, &stmts[S_SEARCH], s->params, pb);

    if (res == NULL) {
        if (!is_query_error(pb))
            return -1;
        memset(pb, 0, sizeof(*pb));
        problem_set(pb, 400, "invalid-parameter", "query parameter q: is not a valid search");
        return problem_field(pb, "q", "is not a valid search");
    }
    free(s->json);
    s->json = db_page_render(res, s->pg, 0, 1, 2, &s->len, pb);
    PQclear(res);
    return s->json ? 0 : -1;
}

int
db_search_messages(const struct who *w, const char *q, const char *conversation_id,
                   const struct page *pg, char **json, size_t *len, struct problem *pb)
{
    const char *p[] = {w->account_id, q, conversation_id, pg->after_ts, pg->after_id, pg->fetch};
    struct search s = {p, pg, NULL, 0};

    if (db_read(search_fn, &s, true, pb) != 0) {
        free(s.json);
        return -1;
    }
    *json = s.json;
    *len = s.len;
    return 0;
}

DB_STATEMENTS(stmts, sizeof(stmts) / sizeof(stmts[0]))
