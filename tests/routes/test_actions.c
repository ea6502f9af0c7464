/*
 * routes/actions.c: draft actions (approve / edit / reject) and the action
 * lists (API.md "Review"), over real HTTP.
 *
 * Conversations, messages and drafts are set up with direct SQL, so this
 * suite depends only on the routes it tests. Every test checks the status,
 * the body and the rows in the database.
 */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/lib/wdiff.h"

static char user[37], channel[37];

static void
setup(void)
{
    fx_setup();
    mk_user(account, "agent@hotrod.example", user);
    mk_channel(account, NULL, "zoho-support", channel);
}

TestSuite(actions, .init = setup, .fini = fx_teardown, .timeout = 120);

static bool
feed_has(const char *conv)
{
    struct resp r;
    char ids[200][37];
    int n;
    bool found = false;

    th_get(&t, "/v1/feed?limit=200", key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    n = feed_ids(r.json, ids, 0);
    for (int i = 0; i < n; i++)
        found |= strcmp(ids[i], conv) == 0;
    resp_free(&r);
    return found;
}

/* Refused actions changed nothing: the draft is pending and in the feed,
 * and the account has no action and no outbound message. */
static void
expect_untouched(const char *conv, const char *draft)
{
    const char *p[] = {account, draft};

    cr_assert_eq(sqlp_long("SELECT count(*) FROM drafts WHERE account_id = $1 AND id = $2 "
                           "AND status = 'pending'",
                           2, p),
                 1);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM draft_actions WHERE account_id = $1", 1, p), 0);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                           "AND direction = 'outbound'",
                           1, p),
                 0);
    cr_assert(feed_has(conv));
}

/* --- approve / edit / reject ----------------------------------------------- */

Test(actions, approve_sends_the_suggested_text_and_leaves_the_feed)
{
    char conv[37], draft[37], v[200];
    const char *p[] = {account, NULL};
    struct resp r;
    json_t *msg, *sample;

    mk_pending(account, channel, "ZT-1", 1, "Your order ships today.", "<p>Your order ships.</p>",
               conv, draft);
    cr_assert(feed_has(conv));
    act(draft, key, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);

    cr_assert_str_eq(jstr(r.json, "action.type"), "approve");
    cr_assert_str_eq(jstr(r.json, "action.draftId"), draft);
    cr_assert_str_eq(jstr(r.json, "action.userId"), user);
    cr_assert_str_eq(jstr(r.json, "action.finalText"), "Your order ships today.");
    cr_assert_eq(json_array_size(json_object_get(json_object_get(r.json, "action"), "diffJson")),
                 0);
    cr_assert(json_is_array(json_object_get(json_object_get(r.json, "action"), "diffJson")));
    cr_assert_str_eq(jstr(r.json, "draft.status"), "sent");
    cr_assert_str_eq(jstr(r.json, "draft.id"), draft);

    msg = json_object_get(r.json, "message");
    cr_assert_str_eq(jstr(msg, "direction"), "outbound");
    cr_assert_str_eq(jstr(msg, "conversationId"), conv);
    cr_assert_str_eq(jstr(msg, "bodyText"), "Your order ships today.");
    cr_assert_str_eq(jstr(msg, "bodyHtml"), "<p>Your order ships.</p>");
    cr_assert_str_eq(jstr(msg, "subject"), "Subject ZT-1");
    cr_assert_str_eq(jstr(msg, "delivery.status"), "pending");
    cr_assert_str_eq(jstr(r.json, "action.messageId"), jstr(msg, "id"));

    sample = json_object_get(r.json, "learningSample");
    cr_assert_str_eq(jstr(sample, "originalText"), "Your order ships today.");
    cr_assert_str_eq(jstr(sample, "finalText"), "Your order ships today.");
    cr_assert_str_eq(jstr(sample, "actionId"), jstr(r.json, "action.id"));
    cr_assert_eq(json_array_size(json_object_get(sample, "diffJson")), 0);
    cr_assert(json_is_array(json_object_get(sample, "diffJson")));

    /* The rows behind the answer. */
    p[1] = draft;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM drafts WHERE account_id = $1 AND id = $2 "
                           "AND status = 'sent'",
                           2, p),
                 1);
    p[1] = conv;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                           "AND conversation_id = $2 AND direction = 'outbound' "
                           "AND delivery_status = 'pending' AND claimable_at IS NOT NULL "
                           "AND body_text = 'Your order ships today.'",
                           2, p),
                 1);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM conversations WHERE account_id = $1 AND id = $2 "
                           "AND pending_draft_id IS NULL AND feed_at IS NULL "
                           "AND last_message_at > timestamptz '2026-01-01 00:01:00+00' "
                           "AND updated_at > created_at - interval '1 second'",
                           2, p),
                 1);
    p[1] = draft;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM draft_actions a JOIN messages m "
                           "  ON m.account_id = a.account_id AND m.id = a.message_id "
                           "WHERE a.account_id = $1 AND a.draft_id = $2 AND a.type = 'approve' "
                           "AND a.diff_json = '[]'::jsonb",
                           2, p),
                 1);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM learning_samples WHERE account_id = $1 "
                           "AND draft_id = $2 AND diff_json = '[]'::jsonb "
                           "AND original_text = final_text",
                           2, p),
                 1);
    sqlp_text(v, sizeof(v),
              "SELECT actor_user_id::text || ' ' || action || ' ' || resource_type || ' ' || "
              "       resource_id FROM audit_log WHERE account_id = $1 AND resource_id = $2",
              2, p);
    {
        char want[200];

        snprintf(want, sizeof(want), "%s draft.action.approve draft %s", user, draft);
        cr_assert_str_eq(v, want);
    }
    resp_free(&r);
    cr_assert_not(feed_has(conv));
}

/* Texts an editor might produce: unicode, whitespace runs, punctuation,
 * a rewrite from nothing in common. */
static const char *const edit_pairs[][2] = {
    {"Hello Anna, your order ships today.", "Hello Anna, your order shipped yesterday!"},
    {"Grüße aus Köln — wir prüfen das.", "Grüße aus München — wir prüfen das sofort. 🚗"},
    {"one  two\t\tthree\n\n\nfour", "one two\t three\n\nfour   "},
    {"日本語のテキスト です。", "日本語 の テキスト でした。"},
    {"Thanks!!! See you.", "   Thanks?! See  you..."},
    {"a", "completely different words here"},
};

Test(actions, edit_sends_the_final_text_and_its_diff_replays_exactly)
{
    for (size_t i = 0; i < sizeof(edit_pairs) / sizeof(edit_pairs[0]); i++) {
        const char *from = edit_pairs[i][0], *to = edit_pairs[i][1];
        char conv[37], draft[37], ext[32];
        const char *p[] = {account, NULL};
        struct resp r;
        json_t *msg, *sample, *ops;
        char *got;
        size_t got_len;

        snprintf(ext, sizeof(ext), "ED-%zu", i);
        mk_pending(account, channel, ext, (int)i, from, "<p>old</p>", conv, draft);
        act(draft, key, "edit", user, to, i % 2 ? "<p>new</p>" : NULL, NULL, &r);
        cr_assert_eq(r.status, 201, "pair %zu: %s", i, r.body);
        cr_assert_str_eq(jstr(r.json, "draft.status"), "superseded");
        cr_assert_str_eq(jstr(r.json, "action.type"), "edit");
        cr_assert_str_eq(jstr(r.json, "action.finalText"), to);

        msg = json_object_get(r.json, "message");
        cr_assert_str_eq(jstr(msg, "bodyText"), to);
        if (i % 2)
            cr_assert_str_eq(jstr(msg, "bodyHtml"), "<p>new</p>");
        else
            cr_assert(json_is_null(json_object_get(msg, "bodyHtml")), "no stale suggested HTML");
        cr_assert_str_eq(jstr(msg, "delivery.status"), "pending");

        /* The answer's diffs replay to the final text, byte for byte. */
        ops = json_object_get(json_object_get(r.json, "action"), "diffJson");
        got = wdiff_apply(from, strlen(from), ops, &got_len);
        cr_assert_not_null(got, "pair %zu: action diff does not replay", i);
        cr_assert_eq(got_len, strlen(to));
        cr_assert_eq(memcmp(got, to, got_len), 0, "pair %zu: got \"%s\"", i, got);
        free(got);
        sample = json_object_get(r.json, "learningSample");
        cr_assert_str_eq(jstr(sample, "originalText"), from);
        cr_assert_str_eq(jstr(sample, "finalText"), to);
        cr_assert(json_equal(json_object_get(sample, "diffJson"), ops));

        /* And so does what was stored. */
        p[1] = draft;
        {
            PGresult *res = sqlp_query("SELECT a.diff_json::text, s.diff_json::text, m.body_text "
                                       "FROM draft_actions a "
                                       "JOIN learning_samples s ON s.account_id = a.account_id "
                                       "                       AND s.action_id = a.id "
                                       "JOIN messages m ON m.account_id = a.account_id "
                                       "               AND m.id = a.message_id "
                                       "WHERE a.account_id = $1 AND a.draft_id = $2 "
                                       "  AND m.delivery_status = 'pending'",
                                       2, p);

            cr_assert_eq(PQntuples(res), 1);
            for (int col = 0; col < 2; col++) {
                json_t *stored = json_loads(PQgetvalue(res, 0, col), 0, NULL);

                cr_assert_not_null(stored);
                got = wdiff_apply(from, strlen(from), stored, &got_len);
                cr_assert_not_null(got, "pair %zu: stored diff does not replay", i);
                cr_assert_str_eq(got, to);
                free(got);
                json_decref(stored);
            }
            cr_assert_str_eq(PQgetvalue(res, 0, 2), to);
            PQclear(res);
        }
        resp_free(&r);
        cr_assert_not(feed_has(conv));
    }
}

/* Builds about `size` bytes of words (some unicode, some runs of spaces),
 * deterministic from seed; every `edit_every`-th word (0: none) is swapped. */
static char *
words(size_t size, unsigned seed, int edit_every)
{
    static const char *const vocab[] = {"order", "ship", "Köln", "tracking", "gasket", "の",
                                        "carb",  "rod",  "  ",   "engine,",  "!",      "\n\n"};
    char *out = malloc(size + 64);
    size_t n = 0;
    unsigned x = seed;

    cr_assert_not_null(out);
    for (int w = 1; n < size; w++) {
        const char *v;

        x = x * 1103515245u + 12345u;
        v = vocab[(x >> 16) % (sizeof(vocab) / sizeof(vocab[0]))];
        if (edit_every > 0 && w % edit_every == 0)
            v = "REPLACED";
        n += (size_t)snprintf(out + n, size + 64 - n, "%s ", v);
    }
    out[n] = '\0';
    return out;
}

Test(actions, edit_of_a_64_kib_text_replays_exactly)
{
    char *from = words(64 * 1024, 7, 0), *to = words(64 * 1024, 7, 10);
    char conv[37], draft[37];
    struct resp r;
    long long t0, ms;
    char *got;
    size_t got_len;

    mk_pending(account, channel, "BIG-1", 1, from, NULL, conv, draft);
    t0 = th_now_ms();
    act(draft, key, "edit", user, to, NULL, NULL, &r);
    ms = th_now_ms() - t0;
    cr_assert_eq(r.status, 201, "%.300s", r.body);
    got = wdiff_apply(from, strlen(from),
                      json_object_get(json_object_get(r.json, "action"), "diffJson"), &got_len);
    cr_assert_not_null(got);
    cr_assert_eq(got_len, strlen(to));
    cr_assert_eq(memcmp(got, to, got_len), 0);
    cr_log_info("edit of a %zu-byte text (every 10th word changed): %lld ms over HTTP, %zu ops",
                strlen(from), ms,
                json_array_size(json_object_get(json_object_get(r.json, "action"), "diffJson")));
    cr_assert_lt(ms, 10000, "the edit took %lld ms", ms);
    free(got);
    free(from);
    free(to);
    resp_free(&r);
}

Test(actions, reject_archives_without_message_or_sample)
{
    char conv[37], draft[37];
    const char *p[] = {account, NULL};
    struct resp r;

    mk_pending(account, channel, "RJ-1", 1, "Nope.", NULL, conv, draft);
    th_post(&t, "/v1/drafts/00000000-0000-0000-0000-000000000000/actions", key, "{}", &r);
    expect_problem(&r, 422);
    resp_free(&r);
    {
        char body[200], path[100];

        snprintf(body, sizeof(body), "{\"type\":\"reject\",\"userId\":\"%s\",\"notes\":\"off\"}",
                 user);
        snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
        th_post(&t, path, key, body, &r);
    }
    cr_assert_eq(r.status, 201, "%s", r.body);
    cr_assert_str_eq(jstr(r.json, "draft.status"), "archived");
    cr_assert_str_eq(jstr(r.json, "action.type"), "reject");
    cr_assert_str_eq(jstr(r.json, "action.notes"), "off");
    cr_assert(json_is_null(json_object_get(r.json, "message")));
    cr_assert(json_is_null(json_object_get(r.json, "learningSample")));
    cr_assert(json_is_null(json_object_get(json_object_get(r.json, "action"), "messageId")));
    cr_assert(json_is_null(json_object_get(json_object_get(r.json, "action"), "diffJson")));
    resp_free(&r);

    p[1] = conv;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                           "AND conversation_id = $2 AND direction = 'outbound'",
                           2, p),
                 0);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM conversations WHERE account_id = $1 AND id = $2 "
                           "AND pending_draft_id IS NULL AND feed_at IS NULL "
                           "AND last_message_at = timestamptz '2026-01-01 00:01:00+00'",
                           2, p),
                 1);
    p[1] = draft;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM draft_actions WHERE account_id = $1 "
                           "AND draft_id = $2 AND message_id IS NULL AND diff_json IS NULL",
                           2, p),
                 1);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM learning_samples WHERE account_id = $1", 1, p), 0);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM audit_log WHERE account_id = $1 "
                           "AND action = 'draft.action.reject' AND resource_id = $2",
                           2, p),
                 1);
    cr_assert_not(feed_has(conv));
}

Test(actions, invalid_actions_are_422_and_change_nothing)
{
    char conv[37], draft[37], other_acct[37], other_key[64], stranger[37];
    struct resp r;

    mk_pending(account, channel, "V-1", 1, "Same words.", "<p>x</p>", conv, draft);
    th_tenant(&t, "Other shop", other_acct, other_key);
    mk_user(other_acct, "stranger@other.example", stranger);

    act(draft, key, "edit", user, NULL, NULL, NULL, &r);
    expect_field(&r, "finalText", NULL);
    resp_free(&r);
    act(draft, key, "edit", user, "Same words.", NULL, NULL, &r);
    expect_field(&r, "finalText", NULL);
    cr_assert_not_null(strstr(r.body, "must differ from the suggested text"), "%s", r.body);
    resp_free(&r);
    act(draft, key, "edit", user, "", NULL, NULL, &r);
    expect_field(&r, "finalText", NULL);
    resp_free(&r);
    act(draft, key, "approve", user, "Other words.", NULL, NULL, &r);
    expect_field(&r, "finalText", NULL);
    resp_free(&r);
    act(draft, key, "approve", user, NULL, "<p>y</p>", NULL, &r);
    expect_field(&r, "finalHtml", NULL);
    resp_free(&r);
    act(draft, key, "reject", user, "text", NULL, NULL, &r);
    expect_field(&r, "finalText", NULL);
    resp_free(&r);
    act(draft, key, "publish", user, NULL, NULL, NULL, &r);
    expect_field(&r, "type", NULL);
    resp_free(&r);
    act(draft, key, NULL, NULL, NULL, NULL, NULL, &r);
    expect_field(&r, "type", NULL);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    act(draft, key, "approve", "not-a-uuid", NULL, NULL, NULL, &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    act(draft, key, "approve", stranger, NULL, NULL, NULL, &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);
    {
        char path[100];

        snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
        th_post(&t, path, key, "{\"type\":\"edit\",\"userId\":1,\"finalText\":\"a\\u0000b\"}", &r);
        expect_field(&r, "userId", NULL);
        expect_field(&r, "finalText", NULL);
        resp_free(&r);
        th_post(&t, path, key, "[\"approve\"]", &r);
        expect_problem(&r, 400);
        resp_free(&r);
        th_post(&t, path, key, "{\"type\":", &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
    /* An equal finalText with approve is just the approval. Not sent here:
     * nothing may have changed yet. */
    expect_untouched(conv, draft);
    act(draft, key, "approve", user, "Same words.", "<p>x</p>", NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

Test(actions, acting_on_a_draft_that_is_not_pending_is_409)
{
    char conv[37], draft[37];
    const char *p[] = {account, NULL};
    struct resp r;

    mk_pending(account, channel, "NP-1", 1, "Hi.", NULL, conv, draft);
    act(draft, key, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    for (int i = 0; i < 3; i++) {
        static const char *const types[] = {"approve", "edit", "reject"};

        act(draft, key, types[i], user, i == 1 ? "Hello." : NULL, NULL, NULL, &r);
        expect_problem(&r, 409);
        cr_assert_str_eq(jstr(r.json, "type"), "/problems/draft-not-pending");
        cr_assert_not_null(strstr(jstr(r.json, "detail"), "sent"), "%s", r.body);
        resp_free(&r);
    }
    p[1] = draft;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM draft_actions WHERE account_id = $1 "
                           "AND draft_id = $2",
                           2, p),
                 1);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                           "AND direction = 'outbound'",
                           1, p),
                 1);
}

/* --- concurrency ----------------------------------------------------------- */

#define RACERS 20
#define RACE_ROUNDS 5

struct racer {
    const char *draft;
    int i;
    pthread_barrier_t *go;
    long status;
    char type[48];
};

static void *
race(void *arg)
{
    struct racer *rc = arg;
    static const char *const types[] = {"approve", "edit", "reject"};
    struct resp r;

    pthread_barrier_wait(rc->go);
    act(rc->draft, key, types[rc->i % 3], user, rc->i % 3 == 1 ? "Edited by a racer." : NULL, NULL,
        NULL, &r);
    rc->status = r.status;
    snprintf(rc->type, sizeof(rc->type), "%s",
             r.json && jstr(r.json, "type") ? jstr(r.json, "type") : "");
    resp_free(&r);
    return NULL;
}

Test(actions, twenty_simultaneous_actions_on_one_draft_one_wins)
{
    for (int round = 0; round < RACE_ROUNDS; round++) {
        char conv[37], draft[37], ext[32];
        const char *p[] = {account, NULL};
        pthread_t th[RACERS];
        struct racer rs[RACERS];
        pthread_barrier_t go;
        int created = 0, conflicts = 0;

        snprintf(ext, sizeof(ext), "RACE-%d", round);
        mk_pending(account, channel, ext, round, "Race me.", NULL, conv, draft);
        pthread_barrier_init(&go, NULL, RACERS);
        for (int i = 0; i < RACERS; i++) {
            rs[i] = (struct racer){.draft = draft, .i = i + round, .go = &go};
            pthread_create(&th[i], NULL, race, &rs[i]);
        }
        for (int i = 0; i < RACERS; i++)
            pthread_join(th[i], NULL);
        pthread_barrier_destroy(&go);
        for (int i = 0; i < RACERS; i++) {
            if (rs[i].status == 201)
                created++;
            else if (rs[i].status == 409 && strcmp(rs[i].type, "/problems/draft-not-pending") == 0)
                conflicts++;
            else
                cr_assert_fail("round %d racer %d: %ld %s", round, i, rs[i].status, rs[i].type);
        }
        cr_assert_eq(created, 1, "round %d", round);
        cr_assert_eq(conflicts, RACERS - 1, "round %d", round);
        p[1] = draft;
        cr_assert_eq(sqlp_long("SELECT count(*) FROM draft_actions WHERE account_id = $1 "
                               "AND draft_id = $2",
                               2, p),
                     1);
        p[1] = conv;
        cr_assert_eq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                               "AND conversation_id = $2 AND direction = 'outbound'",
                               2, p),
                     sqlp_long("SELECT count(*) FROM draft_actions a JOIN drafts d "
                               "  ON d.account_id = a.account_id AND d.id = a.draft_id "
                               "WHERE a.account_id = $1 AND d.conversation_id = $2 "
                               "  AND a.type <> 'reject'",
                               2, p));
        cr_assert_leq(sqlp_long("SELECT count(*) FROM messages WHERE account_id = $1 "
                                "AND conversation_id = $2 AND direction = 'outbound'",
                                2, p),
                      1);
    }
}

/* --- If-Match, tenancy, scopes --------------------------------------------- */

Test(actions, if_match_stale_is_412_current_is_honoured)
{
    char conv[37], draft[37], tag[40], hdr[80];
    const char *p[] = {account, NULL};
    const char *stale[] = {"If-Match: \"12345\"", NULL};
    const char *bad[] = {"If-Match: W/\"12345\"", NULL};
    const char *cur[] = {hdr, NULL};
    struct resp r;

    mk_pending(account, channel, "IM-1", 1, "Tagged.", NULL, conv, draft);
    p[1] = draft;
    sqlp_text(tag, sizeof(tag),
              "SELECT (extract(epoch FROM updated_at) * 1000000)::int8 FROM drafts "
              "WHERE account_id = $1 AND id = $2",
              2, p);
    act(draft, key, "approve", user, NULL, NULL, stale, &r);
    expect_problem(&r, 412);
    resp_free(&r);
    /* A weak tag never matches (strong comparison): 412, not 400. */
    act(draft, key, "approve", user, NULL, NULL, bad, &r);
    expect_problem(&r, 412);
    resp_free(&r);
    cr_assert_eq(sqlp_long("SELECT count(*) FROM drafts WHERE account_id = $1 AND id = $2 "
                           "AND status = 'pending'",
                           2, p),
                 1);
    snprintf(hdr, sizeof(hdr), "If-Match: \"%s\"", tag);
    act(draft, key, "reject", user, NULL, NULL, cur, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
    /* The same (now stale) tag again: the precondition answers first. */
    act(draft, key, "reject", user, NULL, NULL, cur, &r);
    expect_problem(&r, 412);
    resp_free(&r);
}

Test(actions, another_tenants_draft_is_404)
{
    char conv[37], draft[37], other_acct[37], other_key[64], other_user[37], path[100];
    const char *p[] = {account, NULL};
    struct resp r;

    mk_pending(account, channel, "TN-1", 1, "Mine.", NULL, conv, draft);
    th_tenant(&t, "Other shop", other_acct, other_key);
    mk_user(other_acct, "them@other.example", other_user);

    act(draft, other_key, "approve", other_user, NULL, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    act("0190a0b0-0000-7000-8000-000000000000", key, "approve", user, NULL, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
    th_get(&t, path, other_key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    /* Our page is kept; the same request from another account right after
     * it, often with no commit in the cluster in between, is that
     * account's own (empty) page, never ours. */
    for (int i = 0; i < 20; i++) {
        th_get(&t, "/v1/feed", key, &r);
        cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
        resp_free(&r);
        th_get(&t, "/v1/feed", other_key, &r);
        cr_assert_eq(r.status, 200);
        cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0, "round %d", i);
        resp_free(&r);
    }
    p[1] = draft;
    cr_assert_eq(sqlp_long("SELECT count(*) FROM drafts WHERE account_id = $1 AND id = $2 "
                           "AND status = 'pending'",
                           2, p),
                 1);

    /* A deleted conversation's draft is hidden like the conversation. */
    PQclear(sqlp_query("UPDATE conversations SET deleted_at = now(), feed_at = NULL "
                       "WHERE account_id = $1",
                       1, p));
    act(draft, key, "approve", user, NULL, NULL, NULL, &r);
    expect_problem(&r, 404);
    resp_free(&r);
    th_get(&t, path, key, &r);
    expect_problem(&r, 404);
    resp_free(&r);
}

Test(actions, scopes_read_for_lists_actions_write_for_actions)
{
    char conv[37], draft[37], reader[64], actor[64];
    struct resp r;

    mk_pending(account, channel, "SC-1", 1, "Scoped.", NULL, conv, draft);
    th_key(&t, account, "read", reader);
    th_key(&t, account, "actions:write", actor);
    act(draft, reader, "approve", user, NULL, NULL, NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/feed", actor, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/actions", actor, &r);
    expect_problem(&r, 403);
    resp_free(&r);
    th_get(&t, "/v1/feed", reader, &r);
    cr_assert_eq(r.status, 200);
    resp_free(&r);
    act(draft, actor, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

/* --- action lists ---------------------------------------------------------- */

Test(actions, action_lists_filter_by_user_and_since_and_page)
{
    char other_user[37], drafts[9][37], conv[37], url[256], since[64];
    const char *p[] = {account, NULL};
    struct resp r;
    int total = 0, pages = 0;
    char cursor[128] = "", last[40] = "";

    mk_user(account, "second@hotrod.example", other_user);
    for (int i = 0; i < 9; i++) {
        char ext[16];

        snprintf(ext, sizeof(ext), "AL-%d", i);
        mk_pending(account, channel, ext, i, "Draft text.", NULL, conv, drafts[i]);
        act(drafts[i], key, i % 3 == 2 ? "reject" : "approve", i < 6 ? user : other_user, NULL,
            NULL, NULL, &r);
        cr_assert_eq(r.status, 201, "%s", r.body);
        resp_free(&r);
    }
    /* Spread the actions over days 1..9 of January. */
    PQclear(sqlp_query("UPDATE draft_actions a SET created_at = timestamptz '2026-01-01 12:00+00' "
                       "  + (SELECT count(*) FROM draft_actions b "
                       "     WHERE b.account_id = a.account_id AND b.id < a.id) * interval '1 day' "
                       "WHERE account_id = $1",
                       1, p));

    /* One draft's actions. */
    snprintf(url, sizeof(url), "/v1/drafts/%s/actions", drafts[4]);
    th_get(&t, url, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "draftId"),
                     drafts[4]);
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);

    /* By user. */
    snprintf(url, sizeof(url), "/v1/actions?userId=%s", other_user);
    th_get(&t, url, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 3);
    {
        size_t i;
        json_t *it;

        json_array_foreach (json_object_get(r.json, "items"), i, it) {
            cr_assert_str_eq(jstr(it, "userId"), other_user);
        }
    }
    resp_free(&r);

    /* Since (any offset; created_at >= since is inclusive). */
    snprintf(since, sizeof(since), "2026-01-05T14:00:00%%2B02:00");
    snprintf(url, sizeof(url), "/v1/actions?since=%s", since);
    th_get(&t, url, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 5, "%s", r.body);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "items"), 0), "createdAt"),
                     "2026-01-05T12:00:00.000Z");
    resp_free(&r);
    snprintf(url, sizeof(url), "/v1/actions?since=2026-01-05T12:00:00Z&userId=%s", user);
    th_get(&t, url, key, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 2, "%s", r.body);
    resp_free(&r);

    /* Every action once, oldest first, over pages of 2. */
    for (;;) {
        json_t *items;
        size_t i;
        json_t *it;

        if (cursor[0])
            snprintf(url, sizeof(url), "/v1/actions?limit=2&cursor=%s", cursor);
        else
            snprintf(url, sizeof(url), "/v1/actions?limit=2");
        th_get(&t, url, key, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        items = json_object_get(r.json, "items");
        json_array_foreach (items, i, it) {
            cr_assert_gt(strcmp(jstr(it, "createdAt"), last), 0, "oldest first, no repeats");
            snprintf(last, sizeof(last), "%s", jstr(it, "createdAt"));
            total++;
        }
        pages++;
        if (!json_is_string(json_object_get(r.json, "nextCursor"))) {
            resp_free(&r);
            break;
        }
        snprintf(cursor, sizeof(cursor), "%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
    }
    cr_assert_eq(total, 9);
    cr_assert_eq(pages, 5);
}

Test(actions, malformed_query_parameters_are_400)
{
    static const char *const bad[][2] = {
        {"/v1/feed?channelId=abc", "channelId"},
        {"/v1/feed?order=sideways", "order"},
        {"/v1/feed?limit=0", "limit"},
        {"/v1/feed?limit=201", "limit"},
        {"/v1/feed?limit=ten", "limit"},
        {"/v1/feed?cursor=%25%25%25", "cursor"},
        {"/v1/actions?userId=42", "userId"},
        {"/v1/actions?since=yesterday", "since"},
        {"/v1/actions?since=2026-13-01T00:00:00Z", "since"},
        {"/v1/actions?limit=-1", "limit"},
        {"/v1/actions?cursor=AAAA", "cursor"},
        {"/v1/drafts/0190a0b0-0000-7000-8000-000000000000/actions?limit=999", "limit"},
        {"/v1/drafts/0190a0b0-0000-7000-8000-000000000000/actions?cursor=zz", "cursor"},
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct resp r;

        th_get(&t, bad[i][0], key, &r);
        expect_problem(&r, 400);
        cr_assert_not_null(strstr(r.body, bad[i][1]), "%s: %s", bad[i][0], r.body);
        resp_free(&r);
    }
}

/* --- the acting user (issue 17: users can be deactivated) ------------------ */

Test(actions, an_unknown_or_deactivated_user_is_422_and_changes_nothing)
{
    char conv[37], draft[37];
    struct resp r;

    mk_pending(account, channel, "U-1", 1, "Hello.", NULL, conv, draft);
    act(draft, key, "approve", "0199fa04-b7e5-7001-9e37-000000000001", NULL, NULL, NULL, &r);
    expect_field(&r, "userId", NULL);
    resp_free(&r);

    sql_exec("UPDATE users SET active = false WHERE id = '%s'", user);
    for (int i = 0; i < 3; i++) {
        static const char *const types[] = {"approve", "edit", "reject"};

        act(draft, key, types[i], user, i == 1 ? "Changed." : NULL, NULL, NULL, &r);
        expect_field(&r, "userId", NULL);
        cr_assert_not_null(strstr(r.body, "deactivated"), "%s", r.body);
        resp_free(&r);
    }
    expect_untouched(conv, draft);

    sql_exec("UPDATE users SET active = true WHERE id = '%s'", user);
    act(draft, key, "approve", user, NULL, NULL, NULL, &r);
    cr_assert_eq(r.status, 201, "%s", r.body);
    resp_free(&r);
}

struct held_action {
    const char *draft;
    struct resp r;
};

static void *
held_act(void *arg)
{
    struct held_action *h = arg;

    act(h->draft, key, "approve", user, NULL, NULL, NULL, &h->r);
    return NULL;
}

Test(actions, an_action_waits_for_a_deactivation_in_flight_and_is_refused)
{
    char conv[37], draft[37], q[160];
    struct held_action h = {.draft = draft};
    pthread_t th;

    mk_pending(account, channel, "U-2", 1, "Hello.", NULL, conv, draft);
    /* The deactivation has run but not committed when the action reads
     * the user: the action must wait for it and then see it. */
    snprintf(q, sizeof(q), "BEGIN; UPDATE users SET active = false WHERE id = '%s'", user);
    PQclear(th_sql(&t, q));
    cr_assert_eq(pthread_create(&th, NULL, held_act, &h), 0);
    TH_WAIT_UNTIL(th_lock_waiters(&t) >= 1, "the action never waited for the deactivation");
    PQclear(th_sql(&t, "COMMIT"));
    pthread_join(th, NULL);
    expect_field(&h.r, "userId", NULL);
    resp_free(&h.r);
    cr_assert_eq(sql_long("SELECT count(*) FROM drafts WHERE id = '%s' AND status = 'pending'",
                          draft),
                 1);
}
