/* The corrections export: GET /v1/learning-samples as pages and as NDJSON
 * (issue #5; API.md "Learning, jobs, sources, notifications"). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uuid/uuid.h>

#include "fixtures.h"
#include "inboxd/db/db.h"
#include "inboxd/lib/cursor.h"
#include "inboxd/lib/rfc3339.h"

/* One connection in the pool: a connection a stream failed to give back
 * would make the next request wait and fail. */
static void
setup_one_conn(void)
{
    static const char *const settings[] = {"pool_size=1", "pool_wait_ms=2000", NULL};

    fx_start(NULL, settings);
}

/* Three connections, of which streams may hold one. */
static void
setup_one_stream(void)
{
    static const char *const settings[] = {"pool_size=3", "pool_streams=1", NULL};

    fx_start(NULL, settings);
}

/* One timeout for every test: criterion 2.4's runner leaks (LeakSanitizer
 * fails the run) when tests with different timeouts run in parallel. */
TestSuite(learning, .init = fx_setup, .fini = fx_teardown, .timeout = 600);
TestSuite(learning_stream, .init = setup_one_conn, .fini = fx_teardown, .timeout = 600);
TestSuite(learning_streams, .init = setup_one_stream, .fini = fx_teardown, .timeout = 600);

/* --- helpers --------------------------------------------------------------- */

/* Sample g's id: g in hex, then md5(acct || tag || 's' || g), so that the
 * samples of one call (one transaction: one commit position) sort by g. */
#define SAMPLE_ID(acct, tag, g)                                                                    \
    "(lpad(to_hex(" g "), 8, '0') || substr(md5(" acct " || " tag " || 's' || " g "), 9))::uuid"
/* (SAMPLE_ID names g twice: with "%d", pass g, acct, tag, g.) */

/* Waits until the export can hand out every committed sample: the commit
 * watermark (the oldest transaction still open in the whole cluster, which
 * other suites share) has passed them. */
static void
wait_exportable(void)
{
    TH_WAIT_UNTIL(sql_long("SELECT count(*) FROM learning_samples "
                           "WHERE write_xid >= inboxd_watermark()") == 0,
                  "the commit watermark never passed the samples");
}

/*
 * Makes n learning samples in account acct, each with its own message,
 * draft and approve action (every foreign key real). Sample g (1..n) has id
 * SAMPLE_ID(acct, tag, g) and createdAt base + g ms, base being 2026-01-01
 * plus `day` days, so samples are ordered by g. One INSERT … SELECT
 * generate_series per table; make_samples() then waits until they can be
 * exported.
 */
static void
make_samples_nowait(const char *acct, const char *tag, int n, int day)
{
    char conv[37], user[37], ch[37];
    PGresult *r;

    r = th_sql(&t, "SELECT inboxd_uuid7(), inboxd_uuid7(), inboxd_uuid7()");
    snprintf(ch, sizeof(ch), "%s", PQgetvalue(r, 0, 0));
    snprintf(conv, sizeof(conv), "%s", PQgetvalue(r, 0, 1));
    snprintf(user, sizeof(user), "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    sql_exec("INSERT INTO channels (account_id, id, type, external_id, name) "
             "VALUES ('%s', '%s', 'email', 'ch-%s', 'Support')",
             acct, ch, conv);
    sql_exec("INSERT INTO conversations (account_id, id, channel_id, external_id) "
             "VALUES ('%s', '%s', '%s', 'conv-%s')",
             acct, conv, ch, conv);
    sql_exec("INSERT INTO users (account_id, id, email) VALUES ('%s', '%s', '%s@example.com')",
             acct, user, user);
    /* In transactions of at most 20,000 samples: a longer one would hold
     * the commit watermark, which the whole cluster shares, back for
     * every other suite's export meanwhile. */
    for (int lo = 1; lo <= n; lo += 20000) {
        int hi = lo + 19999 < n ? lo + 19999 : n;

        sql_exec("INSERT INTO messages (account_id, id, conversation_id, direction, body_text) "
                 "SELECT '%s', md5('%s' || '%s' || 'm' || g)::uuid, '%s', 'inbound', 'question' "
                 "FROM generate_series(%d, %d) g",
                 acct, acct, tag, conv, lo, hi);
        sql_exec(
            "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, model_key, "
            "                    prompt_version, status, suggested_text) "
            "SELECT '%s', md5('%s' || '%s' || 'd' || g)::uuid, '%s', "
            "       md5('%s' || '%s' || 'm' || g)::uuid, 'model', 'v1', 'sent', 'draft' "
            "FROM generate_series(%d, %d) g",
            acct, acct, tag, conv, acct, tag, lo, hi);
        sql_exec("INSERT INTO draft_actions (account_id, id, draft_id, user_id, type) "
                 "SELECT '%s', md5('%s' || '%s' || 'a' || g)::uuid, "
                 "       md5('%s' || '%s' || 'd' || g)::uuid, '%s', 'approve' "
                 "FROM generate_series(%d, %d) g",
                 acct, acct, tag, acct, tag, user, lo, hi);
        sql_exec(
            "INSERT INTO learning_samples (account_id, id, draft_id, action_id, original_text, "
            "                              final_text, diff_json, created_at) "
            "SELECT '%s', " SAMPLE_ID(
                "'%s'", "'%s'",
                "g") ", "
                     "       md5('%s' || '%s' || 'd' || g)::uuid, md5('%s' || '%s' || 'a' || "
                     "g)::uuid, "
                     "       'Thanks for reaching out! For a Sniper EFI on a 350, -6 AN is plenty "
                     "for the "
                     "feed and the return line; sample ' || g, "
                     "       'Thanks for reaching out! For a Sniper EFI on a 350, -6 AN is plenty "
                     "for the "
                     "feed and the return line; sample ' || g, "
                     "       '[{\"op\": \"equal\", \"text\": \"Thanks for reaching out!\"}]', "
                     "       timestamptz '2026-01-01T00:00:00Z' + %d * interval '1 day' "
                     "           + g * interval '1 millisecond' "
                     "FROM generate_series(%d, %d) g",
            acct, acct, tag, acct, tag, acct, tag, day, lo, hi);
    }
}

static void
make_samples(const char *acct, const char *tag, int n, int day)
{
    make_samples_nowait(acct, tag, n, day);
    wait_exportable();
}

/* The id of sample g of make_samples(acct, tag, …), as text. */
static void
sample_id(const char *acct, const char *tag, int g, char out[37])
{
    char q[300];
    PGresult *r;

    snprintf(q, sizeof(q), "SELECT " SAMPLE_ID("'%s'", "'%s'", "%d"), g, acct, tag, g);
    r = th_sql(&t, q);
    snprintf(out, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
}

static const char *const NDJSON_HDR[] = {"Accept: application/x-ndjson", NULL};

/* Splits an NDJSON body into parsed lines; fails the test on a bad line. */
static json_t *
ndjson_lines(const struct resp *r)
{
    json_t *all = json_array();
    const char *p = r->body;
    const char *end = r->body + r->len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        json_t *o;

        cr_assert_not_null(nl, "the last line has no newline");
        o = json_loadb(p, (size_t)(nl - p), 0, NULL);
        cr_assert(json_is_object(o), "line is not a JSON object: %.*s", (int)(nl - p), p);
        json_array_append_new(all, o);
        p = nl + 1;
    }
    return all;
}

/* --- pages ----------------------------------------------------------------- */

Test(learning, pages_are_oldest_first_without_gaps_or_repeats)
{
    char path[256], cur[128] = "", want[37], tail[32];
    int seen = 0, pages = 0;

    make_samples(account, "p", 7, 0);
    do {
        struct resp r;
        json_t *items, *next, *it;
        size_t i;

        snprintf(path, sizeof(path), "/v1/learning-samples?limit=3%s%s", cur[0] ? "&cursor=" : "",
                 cur);
        th_get(&t, path, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        items = json_object_get(r.json, "items");
        json_array_foreach (items, i, it) {
            seen++;
            sample_id(account, "p", seen, want);
            cr_assert_str_eq(jstr(it, "id"), want, "item %d out of order", seen);
            snprintf(tail, sizeof(tail), "; sample %d", seen);
            cr_assert(strstr(jstr(it, "originalText"), tail) != NULL);
            cr_assert(json_is_string(json_object_get(it, "draftId")));
            cr_assert(json_is_string(json_object_get(it, "actionId")));
            cr_assert(json_is_array(json_object_get(it, "diffJson")));
            cr_assert(json_is_null(json_object_get(it, "embeddingsJson")));
            cr_assert(json_is_string(json_object_get(it, "createdAt")));
        }
        next = json_object_get(r.json, "nextCursor");
        cur[0] = '\0';
        if (json_is_string(next))
            snprintf(cur, sizeof(cur), "%s", json_string_value(next));
        else
            cr_assert(json_is_null(next));
        pages++;
        resp_free(&r);
    } while (cur[0] && pages < 10);
    cr_assert_eq(seen, 7);
    cr_assert_eq(pages, 3);
}

Test(learning, since_keeps_samples_created_at_or_after_it)
{
    struct resp r;
    json_t *items;
    char want[37];

    make_samples(account, "old", 3, 0);  /* 2026-01-01 */
    make_samples(account, "new", 4, 10); /* 2026-01-11 */
    /* Exactly the createdAt of new sample 2 (at or after: it is included). */
    th_get(&t, "/v1/learning-samples?since=2026-01-11T00:00:00.002Z", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 3);
    sample_id(account, "new", 2, want);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), want);
    resp_free(&r);
    /* Any offset is accepted. */
    th_get(&t, "/v1/learning-samples?since=2026-01-11T01:00:00%2B01:00", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 4);
    resp_free(&r);
    th_get(&t, "/v1/learning-samples?since=2030-01-01T00:00:00Z", key, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
}

Test(learning, malformed_parameters_are_400)
{
    static const char *const bad[] = {
        "/v1/learning-samples?since=yesterday", "/v1/learning-samples?since=2026-13-01T00:00:00Z",
        "/v1/learning-samples?limit=0",         "/v1/learning-samples?limit=201",
        "/v1/learning-samples?limit=ten",       "/v1/learning-samples?cursor=garbage",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r;

        th_get(&t, bad[i], key, &r);
        expect_problem(&r, 400);
        resp_free(&r);
        /* The stream validates the same way, before anything is sent. */
        th_http(&t, "GET", bad[i], key, NULL, NDJSON_HDR, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
}

Test(learning, another_accounts_samples_never_appear)
{
    char other[37], other_key[64];
    struct resp r;
    json_t *lines;
    size_t i;
    json_t *o;

    th_tenant(&t, "Other Shop", other, other_key);
    make_samples(account, "mine", 2, 0);
    make_samples(other, "theirs", 5, 0);
    th_get(&t, "/v1/learning-samples", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    resp_free(&r);
    th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
    cr_assert_eq(r.status, 200);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 2);
    json_array_foreach (lines, i, o) {
        char want[37];

        sample_id(account, "mine", (int)i + 1, want);
        cr_assert_str_eq(jstr(o, "id"), want);
    }
    json_decref(lines);
    resp_free(&r);
    th_http(&t, "GET", "/v1/learning-samples", other_key, NULL, NDJSON_HDR, &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 5);
    json_decref(lines);
    resp_free(&r);
}

Test(learning, needs_the_read_scope)
{
    char writer[64];
    struct resp r;

    th_key(&t, account, "actions:write", writer);
    th_get(&t, "/v1/learning-samples", writer, &r);
    expect_problem(&r, 403);
    resp_free(&r);
}

/* --- commit order: no sample skipped under concurrent writers ------------- */

/*
 * A consumer of the export: pages from its cursor, counting each sample id
 * it is handed. After a page with more to come it moves to nextCursor;
 * after the last one to resumeCursor, the position to come back from
 * (without one, as the export answered before it had it, it keeps the
 * last nextCursor it had, the only position it was given).
 */
struct consumer {
    char cursor[128];
    json_t *seen; /* id -> times handed out */
    bool more;    /* the last page had a nextCursor */
};

static size_t
consume_page(struct consumer *c, int limit)
{
    char path[256];
    struct resp r;
    json_t *items, *it, *next, *resume;
    size_t i, n;

    snprintf(path, sizeof(path), "/v1/learning-samples?limit=%d%s%s", limit,
             c->cursor[0] ? "&cursor=" : "", c->cursor);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    json_array_foreach (items, i, it) {
        const char *id = jstr(it, "id");
        json_t *k = json_object_get(c->seen, id);

        json_object_set_new(c->seen, id, json_integer(k ? json_integer_value(k) + 1 : 1));
    }
    n = json_array_size(items);
    next = json_object_get(r.json, "nextCursor");
    c->more = json_is_string(next);
    resume = json_object_get(r.json, "resumeCursor");
    if (json_is_string(next))
        snprintf(c->cursor, sizeof(c->cursor), "%s", json_string_value(next));
    else if (json_is_string(resume))
        snprintf(c->cursor, sizeof(c->cursor), "%s", json_string_value(resume));
    resp_free(&r);
    return n;
}

/* Pages until every committed sample of the account has been handed out,
 * within the harness's patience; then checks each came exactly once. */
static void
drain_and_check(struct consumer *c)
{
    PGresult *all;
    char q[200];
    long long t0 = th_now_ms();
    int n, missing;

    snprintf(q, sizeof(q), "SELECT id FROM learning_samples WHERE account_id = '%s'", account);
    all = th_sql(&t, q);
    n = PQntuples(all);
    for (;;) {
        missing = 0;
        for (int i = 0; i < n; i++)
            missing += json_object_get(c->seen, PQgetvalue(all, i, 0)) == NULL;
        if (missing == 0 || th_now_ms() - t0 > TH_PATIENCE_MS)
            break;
        if (consume_page(c, 50) == 0)
            usleep(10 * 1000);
    }
    for (int i = 0; i < n; i++) {
        json_t *k = json_object_get(c->seen, PQgetvalue(all, i, 0));

        cr_assert_not_null(k, "sample %s was committed but never exported (%d missing)",
                           PQgetvalue(all, i, 0), missing);
        cr_assert_eq(json_integer_value(k), 1, "sample %s was exported %lld times",
                     PQgetvalue(all, i, 0), (long long)json_integer_value(k));
    }
    cr_assert_eq(json_object_size(c->seen), (size_t)n, "the export handed out unknown ids");
    PQclear(all);
}

/* Opens a transaction on a connection of its own that writes one sample
 * (with its channel, conversation, user, message, draft and action),
 * stamped like every write with the transaction's start, and leaves it
 * open. The caller commits it. */
static PGconn *
open_writer(const char *acct, const char *tag)
{
    PGconn *w = PQconnectdb(t.conninfo);
    char q[4096];
    PGresult *r;

    cr_assert_eq(PQstatus(w), CONNECTION_OK, "%s", PQerrorMessage(w));
    snprintf(
        q, sizeof(q),
        "BEGIN; "
        "INSERT INTO channels (account_id, id, type, external_id, name) "
        "  VALUES ('%1$s', md5('%2$s' || 'ch')::uuid, 'email', '%2$s', 'S'); "
        "INSERT INTO conversations (account_id, id, channel_id, external_id) "
        "  VALUES ('%1$s', md5('%2$s' || 'cv')::uuid, md5('%2$s' || 'ch')::uuid, '%2$s'); "
        "INSERT INTO users (account_id, id, email) "
        "  VALUES ('%1$s', md5('%2$s' || 'u')::uuid, '%2$s@example.com'); "
        "INSERT INTO messages (account_id, id, conversation_id, direction, body_text) "
        "  VALUES ('%1$s', md5('%2$s' || 'm')::uuid, md5('%2$s' || 'cv')::uuid, "
        "          'inbound', 'q'); "
        "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, "
        "                    model_key, prompt_version, status, suggested_text) "
        "  VALUES ('%1$s', md5('%2$s' || 'd')::uuid, md5('%2$s' || 'cv')::uuid, "
        "          md5('%2$s' || 'm')::uuid, 'm', 'v1', 'sent', 'draft'); "
        "INSERT INTO draft_actions (account_id, id, draft_id, user_id, type) "
        "  VALUES ('%1$s', md5('%2$s' || 'a')::uuid, md5('%2$s' || 'd')::uuid, "
        "          md5('%2$s' || 'u')::uuid, 'approve'); "
        "INSERT INTO learning_samples (account_id, id, draft_id, action_id, "
        "                              original_text, final_text) "
        "  VALUES ('%1$s', " SAMPLE_ID(
            "'%1$s'", "'%2$s'",
            "1") ", "
                 "          md5('%2$s' || 'd')::uuid, md5('%2$s' || 'a')::uuid, 'draft', 'draft')",
        acct, tag);
    r = PQexec(w, q);
    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(w));
    PQclear(r);
    return w;
}

static void
commit_writer(PGconn *w)
{
    PGresult *r = PQexec(w, "COMMIT");

    cr_assert_eq(PQresultStatus(r), PGRES_COMMAND_OK, "%s", PQerrorMessage(w));
    PQclear(r);
    PQfinish(w);
}

/*
 * The race, made deterministic: a writer's transaction is open (its sample
 * stamped with its start) while later transactions commit samples and the
 * consumer pages past all of them; then the writer commits. Ordered by the
 * stamp, its sample landed behind the consumer's position and was never
 * exported. Below the commit watermark, nothing after the open writer is
 * handed out until it has ended, and then its sample comes first.
 */
Test(learning, a_sample_committed_behind_a_passed_position_is_still_exported)
{
    struct consumer c = {.seen = json_object()};
    PGconn *w;
    char early[37];

    make_samples(account, "before", 3, 0);
    w = open_writer(account, "slow");
    make_samples_nowait(account, "after", 3, 3650); /* stamped years later */
    do
        consume_page(&c, 2);
    while (c.more);
    sample_id(account, "after", 1, early);
    cr_assert_null(json_object_get(c.seen, early),
                   "a sample was handed out while an older writer was still open");
    cr_assert_eq(json_object_size(c.seen), 3, "the committed samples before the writer");
    commit_writer(w);
    drain_and_check(&c);
    json_decref(c.seen);
}

/* Writers inserting samples through the API (approve: one transaction
 * each) while a consumer pages the export over and over. */
#define WRITERS 4
#define PER_WRITER 25

struct writer {
    const char *const *drafts; /* PER_WRITER pending drafts */
    const char *user;
};

static void *
writer_main(void *arg)
{
    const struct writer *wr = arg;

    for (int i = 0; i < PER_WRITER; i++) {
        char path[128], body[128];
        struct resp r;

        snprintf(path, sizeof(path), "/v1/drafts/%s/actions", wr->drafts[i]);
        snprintf(body, sizeof(body), "{\"type\": \"approve\", \"userId\": \"%s\"}", wr->user);
        th_post(&t, path, key, body, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    return NULL;
}

Test(learning, writers_racing_a_paging_consumer_lose_no_sample_and_repeat_none)
{
    static char ids[WRITERS * PER_WRITER][37];
    static const char *per[WRITERS][PER_WRITER];
    struct writer wr[WRITERS];
    pthread_t th[WRITERS];
    struct consumer c = {.seen = json_object()};
    char ch[37], user[37];
    PGresult *r;

    /* One conversation with an inbound message and a pending draft for
     * every approval to come. */
    sql_text(ch, 37,
             "INSERT INTO channels (account_id, id, type, external_id, name) "
             "VALUES ('%s', inboxd_uuid7(), 'email', 'race', 'Race') RETURNING id",
             account);
    sql_text(user, 37,
             "INSERT INTO users (account_id, id, email) VALUES ('%s', inboxd_uuid7(), "
             "'race@example.com') RETURNING id",
             account);
    sql_exec("INSERT INTO conversations (account_id, id, channel_id, external_id) "
             "SELECT '%1$s', md5('c' || g)::uuid, '%2$s', 'race-' || g "
             "FROM generate_series(1, %3$d) g; "
             "INSERT INTO messages (account_id, id, conversation_id, direction, body_text) "
             "SELECT '%1$s', md5('m' || g)::uuid, md5('c' || g)::uuid, 'inbound', 'question' "
             "FROM generate_series(1, %3$d) g; "
             "INSERT INTO drafts (account_id, id, conversation_id, trigger_message_id, "
             "                    model_key, prompt_version, suggested_text) "
             "SELECT '%1$s', md5('d' || g)::uuid, md5('c' || g)::uuid, md5('m' || g)::uuid, "
             "       'm', 'v1', 'Thanks! ' || g "
             "FROM generate_series(1, %3$d) g; "
             "UPDATE conversations SET pending_draft_id = md5('d' || substr(external_id, 6))::uuid "
             "WHERE account_id = '%1$s' AND external_id LIKE 'race-%%'",
             account, ch, WRITERS * PER_WRITER);
    r = th_sql(&t, "SELECT id FROM drafts ORDER BY id");
    cr_assert_eq(PQntuples(r), WRITERS * PER_WRITER);
    for (int i = 0; i < WRITERS * PER_WRITER; i++) {
        snprintf(ids[i], sizeof(ids[i]), "%s", PQgetvalue(r, i, 0));
        per[i % WRITERS][i / WRITERS] = ids[i];
    }
    PQclear(r);
    for (int i = 0; i < WRITERS; i++) {
        wr[i] = (struct writer){per[i], user};
        cr_assert_eq(pthread_create(&th[i], NULL, writer_main, &wr[i]), 0);
    }
    /* The consumer pages the whole time the writers write. */
    while (sql_long("SELECT count(*) FROM learning_samples WHERE account_id = '%s'", account) <
           WRITERS * PER_WRITER)
        consume_page(&c, 3);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    drain_and_check(&c);
    cr_assert_eq(json_object_size(c.seen), WRITERS * PER_WRITER);
    json_decref(c.seen);
}

Test(learning, every_page_says_where_to_come_back_from)
{
    struct resp r;
    char resume[128], path[256], want[37];

    make_samples(account, "r", 2, 0);
    th_get(&t, "/v1/learning-samples", key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    cr_assert(json_is_string(json_object_get(r.json, "resumeCursor")), "%s", r.body);
    snprintf(resume, sizeof(resume), "%s", jstr(r.json, "resumeCursor"));
    resp_free(&r);
    /* Nothing new: an empty page, the same place to come back from. */
    snprintf(path, sizeof(path), "/v1/learning-samples?cursor=%s", resume);
    th_get(&t, path, key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    resp_free(&r);
    /* New samples come after it, and only they. */
    make_samples(account, "r2", 3, 0);
    th_get(&t, path, key, &r);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 3, "%s", r.body);
    sample_id(account, "r2", 1, want);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "id"), want);
    resp_free(&r);
}

Test(learning, the_stream_says_where_to_come_back_from)
{
    struct resp r;
    json_t *lines;
    char resume[128], path[256], want[37];

    make_samples(account, "s", 4, 0);
    th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 4);
    json_decref(lines);
    cr_assert(resp_header(&r, "Inboxd-Resume-Cursor", resume, sizeof(resume)));
    resp_free(&r);
    make_samples(account, "s2", 2, 0);
    snprintf(path, sizeof(path), "/v1/learning-samples?cursor=%s", resume);
    th_http(&t, "GET", path, key, NULL, NDJSON_HDR, &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 2);
    sample_id(account, "s2", 1, want);
    cr_assert_str_eq(jstr(json_array_get(lines, 0), "id"), want);
    json_decref(lines);
    resp_free(&r);
}

/* A consumer holding a cursor from before the export was in commit order
 * (a position in (createdAt, id)) goes on from that point in time. */
Test(learning, a_cursor_of_the_time_order_goes_on_from_its_point_in_time)
{
    struct cursor old = {.has_ts = true};
    char text[CURSOR_BUFLEN], path[256], want[37];
    struct resp r;
    json_t *items;

    make_samples(account, "t", 6, 0);
    sample_id(account, "t", 2, old.id);
    cr_assert_eq(rfc3339_parse("2026-01-01T00:00:00.002Z", &old.ts_usec), 0);
    cursor_encode(&old, text);
    snprintf(path, sizeof(path), "/v1/learning-samples?cursor=%s", text);
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 4);
    sample_id(account, "t", 3, want);
    cr_assert_str_eq(jstr(json_array_get(items, 0), "id"), want);
    resp_free(&r);
}

/* --- NDJSON ---------------------------------------------------------------- */

Test(learning, ndjson_streams_the_whole_range_and_ignores_limit)
{
    const char *const hdr[] = {"Accept: application/x-ndjson", NULL};
    char ct[128], want[37];
    struct resp r;
    json_t *lines, *o, *page;
    size_t i;

    make_samples(account, "s", 260, 0);
    th_http(&t, "GET", "/v1/learning-samples?limit=5", key, NULL, hdr, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(resp_header(&r, "Content-Type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/x-ndjson");
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 260, "limit must not apply to the stream");
    json_array_foreach (lines, i, o) {
        sample_id(account, "s", (int)i + 1, want);
        cr_assert_str_eq(jstr(o, "id"), want, "line %zu", i);
    }
    resp_free(&r);
    /* Each line is exactly what the JSON page shows for that sample. */
    th_get(&t, "/v1/learning-samples?limit=200", key, &r);
    page = json_object_get(r.json, "items");
    for (i = 0; i < json_array_size(page); i++)
        cr_assert(json_equal(json_array_get(lines, i), json_array_get(page, i)), "item %zu", i);
    json_decref(lines);
    resp_free(&r);
}

Test(learning, ndjson_starts_at_since_or_after_the_cursor)
{
    struct resp r;
    json_t *lines;
    char path[256], want[37];

    make_samples(account, "c", 20, 0);
    th_http(&t, "GET", "/v1/learning-samples?since=2026-01-01T00:00:00.015Z", key, NULL, NDJSON_HDR,
            &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 6);
    sample_id(account, "c", 15, want);
    cr_assert_str_eq(jstr(json_array_get(lines, 0), "id"), want);
    json_decref(lines);
    resp_free(&r);

    /* A page's cursor: the stream continues after its last item. */
    th_get(&t, "/v1/learning-samples?limit=8", key, &r);
    snprintf(path, sizeof(path), "/v1/learning-samples?cursor=%s",
             json_string_value(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
    th_http(&t, "GET", path, key, NULL, NDJSON_HDR, &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 12);
    sample_id(account, "c", 9, want);
    cr_assert_str_eq(jstr(json_array_get(lines, 0), "id"), want);
    json_decref(lines);
    resp_free(&r);
}

Test(learning, ndjson_of_an_empty_range_is_an_empty_body)
{
    struct resp r;

    th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    resp_free(&r);
}

Test(learning, accept_decides_between_page_and_stream)
{
    static const struct {
        const char *accept;
        bool ndjson;
    } cases[] = {
        {"Accept: application/json", false},
        {"Accept: */*", false},
        {"Accept: application/x-ndjson;q=0", false},
        {"Accept: application/x-ndjson; q=0.000, application/json", false},
        {"Accept: text/html, Application/X-NDJSON;q=0.5", true},
        {"Accept: application/json;q=0.1,application/x-ndjson", true},
        {"Accept: application/x-ndjson ; charset=utf-8", true},
    };

    make_samples(account, "a", 2, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *const hdr[] = {cases[i].accept, NULL};
        struct resp r;
        char ct[128];

        th_http(&t, "GET", "/v1/learning-samples", key, NULL, hdr, &r);
        cr_assert_eq(r.status, 200, "%s", cases[i].accept);
        cr_assert(resp_header(&r, "Content-Type", ct, sizeof(ct)));
        cr_assert_str_eq(ct, cases[i].ndjson ? "application/x-ndjson" : "application/json", "%s",
                         cases[i].accept);
        if (!cases[i].ndjson)
            cr_assert(json_is_array(json_object_get(r.json, "items")));
        resp_free(&r);
    }
}

/* --- the big stream -------------------------------------------------------- */

#define BIG 200000

/* AddressSanitizer keeps freed memory in quarantine (256 MiB by default)
 * and never hands it back, so resident memory measures the sanitizer there,
 * not inboxd: the sanitized build checks everything but the figure. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_MEANINGFUL 0
#else
#define RSS_MEANINGFUL 1
#endif

struct big {
    uuid_t *ids;         /* expected ids, sorted */
    unsigned char *seen; /* times each arrived */
    size_t n;
    char *line; /* the partial line between callbacks */
    size_t len, cap;
    long lines, bad, dups;
    char last_created[40];
    bool ordered;
    long rss_max_kb;
    size_t abort_after; /* stop the transfer after this many bytes (0: never) */
    size_t bytes;
    void (*on_first_bytes)(void);
};

static long
rss_kb(const char *field)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    size_t n = strlen(field);

    cr_assert_not_null(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, field, n) == 0 && line[n] == ':')
            kb = atol(line + n + 1);
    fclose(f);
    return kb;
}

static int
cmp_uuid(const void *a, const void *b)
{
    return memcmp(a, b, sizeof(uuid_t));
}

static void
big_line(struct big *b, const char *p, size_t n)
{
    json_t *o = json_loadb(p, n, 0, NULL);
    const char *id = o ? jstr(o, "id") : NULL;
    const char *created = o ? jstr(o, "createdAt") : NULL;
    uuid_t u;
    uuid_t *hit;

    b->lines++;
    if (id == NULL || created == NULL || uuid_parse(id, u) != 0) {
        b->bad++;
        json_decref(o);
        return;
    }
    hit = bsearch(u, b->ids, b->n, sizeof(uuid_t), cmp_uuid);
    if (hit == NULL)
        b->bad++;
    else if (b->seen[hit - b->ids]++ > 0)
        b->dups++;
    if (strcmp(created, b->last_created) < 0)
        b->ordered = false;
    snprintf(b->last_created, sizeof(b->last_created), "%s", created);
    json_decref(o);
    if (b->lines % 20000 == 0) {
        long kb = rss_kb("VmRSS");

        if (kb > b->rss_max_kb)
            b->rss_max_kb = kb;
    }
}

/* curl write callback: splits lines without keeping the body. */
static size_t
big_write(char *data, size_t size, size_t nmemb, void *arg)
{
    struct big *b = arg;
    size_t n = size * nmemb;
    const char *p = data, *end = data + n;

    if (b->bytes == 0 && b->on_first_bytes)
        b->on_first_bytes();
    b->bytes += n;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t k = (size_t)((nl ? nl : end) - p);

        if (b->len + k > b->cap) {
            b->cap = (b->len + k) * 2;
            b->line = realloc(b->line, b->cap);
            cr_assert_not_null(b->line);
        }
        memcpy(b->line + b->len, p, k);
        b->len += k;
        if (nl == NULL)
            break;
        big_line(b, b->line, b->len);
        b->len = 0;
        p = nl + 1;
    }
    if (b->abort_after > 0 && b->bytes >= b->abort_after)
        return 0; /* curl aborts the transfer: the client is gone */
    return n;
}

/* Loads the account's sample ids, sorted, into b. */
static void
big_expect(struct big *b, const char *acct)
{
    char q[200];
    PGresult *r;

    snprintf(q, sizeof(q), "SELECT id FROM learning_samples WHERE account_id = '%s'", acct);
    r = th_sql(&t, q);
    b->n = (size_t)PQntuples(r);
    b->ids = malloc(b->n * sizeof(uuid_t));
    b->seen = calloc(b->n, 1);
    cr_assert(b->ids && b->seen);
    for (size_t i = 0; i < b->n; i++)
        cr_assert_eq(uuid_parse(PQgetvalue(r, (int)i, 0), b->ids[i]), 0);
    PQclear(r);
    qsort(b->ids, b->n, sizeof(uuid_t), cmp_uuid);
    b->ordered = true;
}

static CURLcode
big_get(struct big *b, const char *k)
{
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    char url[256], auth[128];
    CURLcode rc;
    long status = 0;

    snprintf(url, sizeof(url), "%s/v1/learning-samples", t.base);
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", k);
    hl = curl_slist_append(hl, auth);
    hl = curl_slist_append(hl, "Accept: application/x-ndjson");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, big_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 240L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (rc == CURLE_OK)
        cr_assert_eq(status, 200);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc;
}

static void
big_free(struct big *b)
{
    free(b->ids);
    free(b->seen);
    free(b->line);
}

Test(learning, ndjson_of_200000_samples_streams_in_constant_memory)
{
    struct big b = {0};
    long before, after, peak, missing = 0;
    long long t0, ms;
    CURLcode rc;

    make_samples(account, "big", BIG, 0);
    big_expect(&b, account);
    cr_assert_eq(b.n, BIG);
    before = rss_kb("VmRSS");
    b.rss_max_kb = before;
    t0 = th_now_ms();
    rc = big_get(&b, key);
    ms = th_now_ms() - t0;
    after = rss_kb("VmRSS");
    peak = b.rss_max_kb > after ? b.rss_max_kb : after;
    cr_assert_eq(rc, CURLE_OK, "%s", curl_easy_strerror(rc));
    for (size_t i = 0; i < b.n; i++)
        missing += b.seen[i] == 0;
    fprintf(stderr,
            "ndjson: %ld lines, %zu bytes in %lld ms; VmRSS before %ld KiB, after %ld KiB "
            "(+%ld KiB), peak sampled %ld KiB (+%ld KiB)\n",
            b.lines, b.bytes, ms, before, after, after - before, peak, peak - before);
    cr_assert_eq(b.lines, BIG);
    cr_assert_eq(b.bad, 0, "lines that are no sample of this account");
    cr_assert_eq(b.dups, 0, "samples that arrived twice");
    cr_assert_eq(missing, 0, "samples that never arrived");
    cr_assert(b.ordered, "lines are oldest first");
    cr_assert_gt(b.bytes, (size_t)40 * 1024 * 1024, "the body is large enough to matter");
    if (RSS_MEANINGFUL) {
        cr_assert_lt(after - before, 16 * 1024, "VmRSS grew by %ld KiB", after - before);
        cr_assert_lt(peak - before, 16 * 1024, "VmRSS peaked %ld KiB above the start",
                     peak - before);
    }
    big_free(&b);
}

/* --- a stream's connection is given back on every ending -------------------- */

static bool
pool_idle_within(long ms)
{
    long long t0 = th_now_ms();

    for (;;) {
        struct db_stats st;

        db_stats(&st);
        if (st.in_use == 0)
            return true;
        if (th_now_ms() - t0 > ms)
            return false;
        usleep(20 * 1000);
    }
}

Test(learning_stream, a_client_gone_mid_stream_gives_the_connection_back)
{
    struct big b = {0};
    struct resp r;
    json_t *lines;
    CURLcode rc;

    make_samples(account, "gone", 30000, 0);
    big_expect(&b, account);
    b.abort_after = 100 * 1024;
    rc = big_get(&b, key);
    cr_assert_eq(rc, CURLE_WRITE_ERROR, "%s", curl_easy_strerror(rc));
    cr_assert_lt(b.lines, 30000);
    cr_assert(pool_idle_within(TH_PATIENCE_MS), "the stream's connection was not given back");
    /* The one connection serves the next request, stream and page alike. */
    th_get(&t, "/v1/learning-samples?limit=1", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    th_http(&t, "GET", "/v1/learning-samples?since=2026-01-01T00:00:29.990Z", key, NULL, NDJSON_HDR,
            &r);
    cr_assert_eq(r.status, 200);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 11);
    json_decref(lines);
    resp_free(&r);
    big_free(&b);
}

static void
kill_stream_backend(void)
{
    /* The backend running the export statement. */
    PQclear(th_sql(&t, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid() "
                       "  AND query LIKE '%inboxd_json_learning_sample%'"));
}

Test(learning_stream, a_database_error_mid_stream_ends_the_response_as_broken)
{
    struct big b = {0};
    struct resp r;
    CURLcode rc;

    make_samples(account, "err", 100000, 0);
    big_expect(&b, account);
    b.on_first_bytes = kill_stream_backend;
    rc = big_get(&b, key);
    /* A chunked body that stops without its last chunk. */
    cr_assert_neq(rc, CURLE_OK, "the stream ended as if complete");
    cr_assert_lt(b.lines, 100000);
    cr_assert_eq(b.dups + b.bad, 0);
    cr_assert(pool_idle_within(TH_PATIENCE_MS), "the stream's connection was not given back");
    th_get(&t, "/v1/learning-samples?limit=2", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2);
    resp_free(&r);
    big_free(&b);
}

Test(learning_stream, an_export_does_not_leave_the_connection_busy)
{
    struct resp r;
    json_t *lines;

    make_samples(account, "done", 500, 0);
    for (int i = 0; i < 3; i++) {
        th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
        cr_assert_eq(r.status, 200);
        lines = ndjson_lines(&r);
        cr_assert_eq(json_array_size(lines), 500);
        json_decref(lines);
        resp_free(&r);
        cr_assert(pool_idle_within(TH_PATIENCE_MS));
    }
    /* Nothing was left open on the server either. */
    cr_assert_eq(
        sql_long("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                 "AND application_name = 'inboxd' AND state <> 'idle'"),
        0);
}

/* --- streams hold at most pool_streams connections -------------------------- */

static long second_stream_status, second_stream_retry, page_status;

/* Runs while the first export is streaming (its first bytes just came). */
static void
while_streaming(void)
{
    struct resp r;
    char retry[16] = "";

    th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
    second_stream_status = r.status;
    if (resp_header(&r, "Retry-After", retry, sizeof(retry)))
        second_stream_retry = atol(retry);
    if (r.status == 503)
        cr_assert_str_eq(jstr(r.json, "type"), "/problems/streams-busy", "%s", r.body);
    resp_free(&r);
    th_get(&t, "/v1/learning-samples?limit=1", key, &r);
    page_status = r.status;
    resp_free(&r);
}

Test(learning_streams, a_stream_over_the_limit_is_503_and_pages_still_answer)
{
    struct big b = {0};
    struct resp r;
    json_t *lines;

    make_samples(account, "cap", 30000, 0);
    big_expect(&b, account);
    b.on_first_bytes = while_streaming;
    cr_assert_eq(big_get(&b, key), CURLE_OK);
    cr_assert_eq(b.lines, 30000, "the first export is whole");
    cr_assert_eq(second_stream_status, 503, "a second stream was let in");
    cr_assert_gt(second_stream_retry, 0);
    cr_assert_eq(page_status, 200, "a page waited behind the stream");
    /* The first stream's slot is free again. */
    th_http(&t, "GET", "/v1/learning-samples?since=2026-01-01T00:00:29.990Z", key, NULL, NDJSON_HDR,
            &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 11);
    json_decref(lines);
    resp_free(&r);
    big_free(&b);
}

/* --- embeddings (issue 17) ------------------------------------------------- */

static void
patch_sample(const char *id, const char *k, const char *body, struct resp *r)
{
    char path[128];

    snprintf(path, sizeof(path), "/v1/learning-samples/%s", id);
    th_http(&t, "PATCH", path, k, body, NULL, r);
}

Test(learning, patch_sets_embeddings_as_sent_and_the_export_carries_them_again)
{
    char id[37], resume[128], path[256], text[512];
    struct resp r;
    json_t *lines, *vec;

    make_samples(account, "e", 3, 0);
    sample_id(account, "e", 2, id);
    th_http(&t, "GET", "/v1/learning-samples", key, NULL, NDJSON_HDR, &r);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 3);
    cr_assert(json_is_null(json_object_get(json_array_get(lines, 1), "embeddingsJson")));
    json_decref(lines);
    cr_assert(resp_header(&r, "Inboxd-Resume-Cursor", resume, sizeof(resume)));
    resp_free(&r);

    patch_sample(id, key,
                 "{\"embeddingsJson\": {\"model\": \"e5-small\", "
                 "\"vector\": [0.82, -0.1, 0.3, 12345678901234567]}}",
                 &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "id"), id);
    cr_assert_str_eq(jstr(r.json, "embeddingsJson.model"), "e5-small");
    cr_assert_not_null(strstr(r.body, "0.82"), "%s", r.body);
    cr_assert_null(strstr(r.body, "0.8199"), "%s", r.body);
    resp_free(&r);
    /* Stored exactly as sent: PostgreSQL was handed the caller's numbers. */
    sql_text(text, sizeof(text), "SELECT embeddings_json::text FROM learning_samples WHERE id = '%s'",
             id);
    cr_assert_str_eq(text,
                     "{\"model\": \"e5-small\", \"vector\": [0.82, -0.1, 0.3, 12345678901234567]}");
    cr_assert_eq(audit_count("learning_sample.embeddings", id), 1);

    /* The export hands the sample out again, after the position passed. */
    wait_exportable();
    snprintf(path, sizeof(path), "/v1/learning-samples?cursor=%s", resume);
    th_http(&t, "GET", path, key, NULL, NDJSON_HDR, &r);
    cr_assert_not_null(strstr(r.body, "0.82, -0.1, 0.3, 12345678901234567"), "%s", r.body);
    lines = ndjson_lines(&r);
    cr_assert_eq(json_array_size(lines), 1);
    cr_assert_str_eq(jstr(json_array_get(lines, 0), "id"), id);
    vec = json_object_get(json_object_get(json_array_get(lines, 0), "embeddingsJson"), "vector");
    cr_assert_eq(json_array_size(vec), 4);
    cr_assert_eq(json_real_value(json_array_get(vec, 0)), 0.82);
    json_decref(lines);
    resp_free(&r);
    /* And as a page. */
    th_get(&t, path, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "embeddingsJson.model"),
                     "e5-small");
    resp_free(&r);

    /* null clears them; any JSON value is taken. */
    patch_sample(id, key, "{\"embeddingsJson\": null}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_null(json_object_get(r.json, "embeddingsJson")));
    resp_free(&r);
    patch_sample(id, key, "{\"embeddingsJson\": [[0.5, 0.25], [1e-3]]}", &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert(json_is_array(json_object_get(r.json, "embeddingsJson")));
    resp_free(&r);
    cr_assert_eq(audit_count("learning_sample.embeddings", id), 3);
}

Test(learning, patch_embeddings_checks_scope_body_and_tenancy)
{
    char id[37], other[37], other_key[64], reader[64], *big;
    struct resp r;

    make_samples(account, "v", 1, 0);
    sample_id(account, "v", 1, id);
    th_tenant(&t, "Other", other, other_key);
    th_key(&t, account, "read drafts:write", reader);

    patch_sample(id, reader, "{\"embeddingsJson\": [1]}", &r);
    expect_problem(&r, 403);
    resp_free(&r);
    patch_sample(id, other_key, "{\"embeddingsJson\": [1]}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    patch_sample("0190d6a0-0000-7000-8000-000000000000", key, "{\"embeddingsJson\": [1]}", &r);
    expect_problem(&r, 404);
    resp_free(&r);
    patch_sample(id, key, "{}", &r);
    expect_field(&r, "embeddingsJson", NULL);
    resp_free(&r);
    patch_sample(id, key, "{\"embeddingsJson\": [1], \"vectors\": []}", &r);
    expect_field(&r, "vectors", NULL);
    resp_free(&r);
    patch_sample(id, key, "{\"embeddingsJson\": {\"k\": \"a\\u0000b\"}}", &r);
    expect_field(&r, "embeddingsJson", NULL);
    resp_free(&r);
    big = big_object_body("", "embeddingsJson");
    patch_sample(id, key, big, &r);
    expect_field(&r, "embeddingsJson", NULL);
    resp_free(&r);
    free(big);
    patch_sample(id, key, "[1]", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    cr_assert_eq(sql_long("SELECT count(*) FROM learning_samples WHERE embeddings_json IS NOT NULL"),
                 0);
    cr_assert_eq(audit_count("learning_sample.embeddings", id), 0);
}
