/* Full-text message search: GET /v1/search/messages (issue #5; API.md
 * "Conversations and messages", "Details callers rely on"). */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fixtures.h"

TestSuite(search, .init = fx_setup, .fini = fx_teardown, .timeout = 120);

/* --- helpers --------------------------------------------------------------- */

/* A new conversation of acct (with a channel of its own). */
static void
make_conv(const char *acct, char id[37])
{
    char ch[37];

    mk_channel(acct, NULL, NULL, ch);
    sql_text(id, 37,
             "INSERT INTO conversations (account_id, id, channel_id, external_id) "
             "VALUES ('%s', inboxd_uuid7(), '%s', 'conv-' || inboxd_uuid7()) RETURNING id",
             acct, ch);
}

/* A new inbound message; subject may be NULL. Texts must not hold '. */
static void
make_msg(const char *acct, const char *conv, const char *subject, const char *body, char id[37])
{
    char subj[1100];

    cr_assert(strchr(body, '\'') == NULL && (subject == NULL || strchr(subject, '\'') == NULL));
    if (subject)
        snprintf(subj, sizeof(subj), "'%s'", subject);
    else
        snprintf(subj, sizeof(subj), "NULL");
    sql_text(
        id, 37,
        "INSERT INTO messages (account_id, id, conversation_id, direction, subject, body_text) "
        "VALUES ('%s', inboxd_uuid7(), '%s', 'inbound', %s, '%s') RETURNING id",
        acct, conv, subj, body);
}

/* GET /v1/search/messages?q=<q escaped>&extra; the answer in r. */
static void
search(const char *k, const char *q, const char *extra, struct resp *r)
{
    CURL *c = curl_easy_init();
    char *esc = curl_easy_escape(c, q, (int)strlen(q));
    char path[4096];

    snprintf(path, sizeof(path), "/v1/search/messages?q=%s%s%s", esc, extra ? "&" : "",
             extra ? extra : "");
    curl_free(esc);
    curl_easy_cleanup(c);
    th_get(&t, path, k, r);
}

static json_t *
items(const struct resp *r)
{
    return json_object_get(r->json, "items");
}

/* Whether the hits contain message id. */
static bool
has_hit(const struct resp *r, const char *id)
{
    size_t i;
    json_t *h;

    json_array_foreach (items(r), i, h) {
        if (strcmp(jstr(json_object_get(h, "message"), "id"), id) == 0)
            return true;
    }
    return false;
}

static const char *
hit_id(const struct resp *r, size_t i)
{
    return jstr(json_object_get(json_array_get(items(r), i), "message"), "id");
}

/* --- tests ----------------------------------------------------------------- */

Test(search, a_hit_is_message_conversation_rank_and_snippet)
{
    char conv[37], m[37];
    struct resp r;
    json_t *h, *msg;

    make_conv(account, conv);
    make_msg(account, conv, "Fuel line sizing", "Which hose for a Sniper EFI return line?", m);
    search(key, "hose", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items(&r)), 1);
    h = json_array_get(items(&r), 0);
    cr_assert_eq(json_object_size(h), 4);
    msg = json_object_get(h, "message");
    cr_assert_str_eq(jstr(msg, "id"), m);
    cr_assert_str_eq(jstr(msg, "conversationId"), conv);
    cr_assert_str_eq(jstr(msg, "bodyText"), "Which hose for a Sniper EFI return line?");
    cr_assert(json_is_array(json_object_get(msg, "attachments")));
    cr_assert_str_eq(jstr(h, "conversationId"), conv);
    cr_assert(json_is_number(json_object_get(h, "rank")));
    cr_assert_gt(json_number_value(json_object_get(h, "rank")), 0);
    cr_assert_not_null(strstr(jstr(h, "snippet"), "<b>hose</b>"), "%s", jstr(h, "snippet"));
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
}

Test(search, words_in_the_subject_rank_above_words_in_the_body)
{
    char conv[37], in_body[37], in_subject[37];
    struct resp r;

    make_conv(account, conv);
    /* Inserted first, so the newest-first tie order would put it second. */
    make_msg(account, conv, "Question", "My brake caliper squeals when cold", in_body);
    make_msg(account, conv, "Brake caliper squeal", "It squeals when cold", in_subject);
    search(key, "brake caliper", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items(&r)), 2);
    cr_assert_str_eq(hit_id(&r, 0), in_subject);
    cr_assert_str_eq(hit_id(&r, 1), in_body);
    cr_assert_gt(json_number_value(json_object_get(json_array_get(items(&r), 0), "rank")),
                 json_number_value(json_object_get(json_array_get(items(&r), 1), "rank")));
    resp_free(&r);
}

Test(search, phrases_not_and_or)
{
    char conv[37], phrase[37], apart[37], shipping[37], carb[37], inj[37];
    struct resp r;

    make_conv(account, conv);
    make_msg(account, conv, NULL, "What is your refund policy for opened kits?", phrase);
    make_msg(account, conv, NULL, "Your policy says I get a refund, right?", apart);
    make_msg(account, conv, NULL, "Refund the shipping cost please", shipping);
    make_msg(account, conv, NULL, "The carburetor floods at idle", carb);
    make_msg(account, conv, NULL, "One injector is leaking", inj);

    search(key, "\"refund policy\"", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items(&r)), 1, "%s", r.body);
    cr_assert_str_eq(hit_id(&r, 0), phrase);
    resp_free(&r);

    search(key, "refund policy", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 2);
    cr_assert(has_hit(&r, phrase) && has_hit(&r, apart));
    resp_free(&r);

    search(key, "refund -shipping", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 2);
    cr_assert(!has_hit(&r, shipping));
    resp_free(&r);

    search(key, "refund", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 3);
    resp_free(&r);

    search(key, "carburetor or injector", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 2);
    cr_assert(has_hit(&r, carb) && has_hit(&r, inj));
    resp_free(&r);

    search(key, "carburetor injector", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 0, "both words are required without or");
    resp_free(&r);
}

Test(search, another_accounts_messages_never_appear)
{
    char other[37], other_key[64], mine_conv[37], their_conv[37], mine[37], theirs[37];
    char extra[128];
    struct resp r;

    th_tenant(&t, "Other Shop", other, other_key);
    make_conv(account, mine_conv);
    make_conv(other, their_conv);
    make_msg(account, mine_conv, "Header gasket", "The header gasket leaks", mine);
    make_msg(other, their_conv, "Header gasket", "The header gasket leaks", theirs);

    search(key, "header gasket", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 1);
    cr_assert_str_eq(hit_id(&r, 0), mine);
    resp_free(&r);
    search(other_key, "header gasket", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 1);
    cr_assert_str_eq(hit_id(&r, 0), theirs);
    resp_free(&r);
    /* Naming the other account's conversation finds nothing either. */
    snprintf(extra, sizeof(extra), "conversationId=%s", their_conv);
    search(key, "header gasket", extra, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(items(&r)), 0);
    resp_free(&r);
}

Test(search, conversation_id_narrows_the_search)
{
    char a[37], b[37], ma[37], mb[37], extra[128];
    struct resp r;

    make_conv(account, a);
    make_conv(account, b);
    make_msg(account, a, NULL, "Radiator cap pressure", ma);
    make_msg(account, b, NULL, "Radiator hose clamp", mb);
    search(key, "radiator", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 2);
    resp_free(&r);
    snprintf(extra, sizeof(extra), "conversationId=%s", b);
    search(key, "radiator", extra, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items(&r)), 1);
    cr_assert_str_eq(hit_id(&r, 0), mb);
    cr_assert_str_eq(jstr(json_array_get(items(&r), 0), "conversationId"), b);
    resp_free(&r);
    search(key, "radiator", "conversationId=not-a-uuid", &r);
    expect_problem(&r, 400);
    cr_assert_not_null(strstr(r.body, "conversationId"));
    resp_free(&r);
}

Test(search, soft_deleted_conversations_are_not_searched)
{
    char live[37], gone[37], ml[37], mg[37];
    struct resp r;

    make_conv(account, live);
    make_conv(account, gone);
    make_msg(account, live, NULL, "Distributor cap cracked", ml);
    make_msg(account, gone, NULL, "Distributor cap cracked", mg);
    sql_exec("UPDATE conversations SET deleted_at = now() WHERE id = '%s'", gone);
    search(key, "distributor", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 1);
    cr_assert_str_eq(hit_id(&r, 0), ml);
    resp_free(&r);
}

Test(search, snippets_mark_the_words_and_escape_everything_else)
{
    char conv[37], m[37];
    struct resp r;
    const char *snip;

    make_conv(account, conv);
    make_msg(account, conv, "Re: <b>order</b> & co",
             "<script>alert(1)</script> the throttle body <i>gasket</i> & \"spacer\"", m);
    search(key, "gasket", NULL, &r);
    cr_assert_eq(json_array_size(items(&r)), 1, "%s", r.body);
    snip = jstr(json_array_get(items(&r), 0), "snippet");
    cr_assert_not_null(strstr(snip, "<b>gasket</b>"), "%s", snip);
    cr_assert_null(strstr(snip, "<script>"), "%s", snip);
    cr_assert_null(strstr(snip, "<i>"), "%s", snip);
    /* Fragment edges fall between tokens, and an entity is one token. */
    cr_assert_not_null(strstr(snip, "&lt;i&gt;<b>gasket</b>&lt;/i&gt;"), "%s", snip);
    cr_assert_not_null(strstr(snip, "&amp;"), "%s", snip);
    cr_assert_not_null(strstr(snip, "&quot;spacer"), "%s", snip);
    /* The only tags are the marks. */
    for (const char *p = strchr(snip, '<'); p; p = strchr(p + 1, '<'))
        cr_assert(strncmp(p, "<b>", 3) == 0 || strncmp(p, "</b>", 4) == 0, "%s", snip);
    /* The message itself is returned as stored. */
    cr_assert_str_eq(jstr(json_object_get(json_array_get(items(&r), 0), "message"), "subject"),
                     "Re: <b>order</b> & co");
    resp_free(&r);
}

Test(search, pages_follow_the_ranking_without_gaps_or_repeats)
{
    char conv[37], ids[9][37], cur[128] = "", extra[256];
    const char *bodies[] = {
        "piston",
        "piston ring piston",
        "piston piston piston rod",
        "piston",
        "the piston",
        "piston piston",
        "piston",
        "a piston and another piston and a third piston and a fourth piston",
        "piston",
    };
    json_t *all, *seen = json_array();
    struct resp r;
    int pages = 0;

    make_conv(account, conv);
    for (int i = 0; i < 9; i++)
        make_msg(account, conv, i == 4 ? "Piston" : NULL, bodies[i], ids[i]);
    search(key, "piston", "limit=200", &r);
    cr_assert_eq(json_array_size(items(&r)), 9);
    all = json_incref(items(&r));
    resp_free(&r);
    for (size_t i = 1; i < 9; i++)
        cr_assert_geq(json_number_value(json_object_get(json_array_get(all, i - 1), "rank")),
                      json_number_value(json_object_get(json_array_get(all, i), "rank")),
                      "best first");
    do {
        snprintf(extra, sizeof(extra), "limit=2%s%s", cur[0] ? "&cursor=" : "", cur);
        search(key, "piston", extra, &r);
        cr_assert_eq(r.status, 200, "%s", r.body);
        json_array_extend(seen, items(&r));
        cur[0] = '\0';
        if (json_is_string(json_object_get(r.json, "nextCursor")))
            snprintf(cur, sizeof(cur), "%s", jstr(r.json, "nextCursor"));
        resp_free(&r);
        pages++;
    } while (cur[0] && pages < 20);
    cr_assert_eq(pages, 5);
    cr_assert_eq(json_array_size(seen), 9);
    for (size_t i = 0; i < 9; i++)
        cr_assert_str_eq(jstr(json_object_get(json_array_get(seen, i), "message"), "id"),
                         jstr(json_object_get(json_array_get(all, i), "message"), "id"),
                         "page order differs from the one-page order at %zu", i);
    json_decref(seen);
    json_decref(all);
}

Test(search, a_cursor_survives_new_matches)
{
    char conv[37], m[37], cur[128], extra[256];
    struct resp r;
    json_t *first;

    make_conv(account, conv);
    for (int i = 0; i < 4; i++)
        make_msg(account, conv, NULL, "clutch cable", m);
    search(key, "clutch", "limit=2", &r);
    first = json_incref(items(&r));
    snprintf(cur, sizeof(cur), "%s", jstr(r.json, "nextCursor"));
    resp_free(&r);
    /* A better match arrives between the pages: it ranks before the
     * cursor, so the next page neither repeats nor skips. */
    make_msg(account, conv, "Clutch", "clutch clutch clutch", m);
    snprintf(extra, sizeof(extra), "limit=2&cursor=%s", cur);
    search(key, "clutch", extra, &r);
    cr_assert_eq(json_array_size(items(&r)), 2);
    for (size_t i = 0; i < 2; i++) {
        cr_assert_str_neq(hit_id(&r, i), m);
        for (size_t j = 0; j < 2; j++)
            cr_assert_str_neq(hit_id(&r, i),
                              jstr(json_object_get(json_array_get(first, j), "message"), "id"));
    }
    cr_assert(json_is_null(json_object_get(r.json, "nextCursor")));
    resp_free(&r);
    json_decref(first);
}

Test(search, a_missing_empty_or_oversized_query_is_400)
{
    char big[1100];
    struct resp r;

    th_get(&t, "/v1/search/messages", key, &r);
    expect_problem(&r, 400);
    cr_assert_str_eq(jstr(json_array_get(json_object_get(r.json, "errors"), 0), "field"), "q");
    resp_free(&r);
    th_get(&t, "/v1/search/messages?q=", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_get(&t, "/v1/search/messages?q=%20%20%09", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    th_get(&t, "/v1/search/messages?q=%FF%FE", key, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    memset(big, 'a', 1001);
    big[1001] = '\0';
    search(key, big, NULL, &r);
    expect_problem(&r, 400);
    resp_free(&r);
    big[1000] = '\0'; /* exactly 1000 bytes is fine */
    search(key, big, NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    resp_free(&r);
    search(key, "x", "limit=0", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    search(key, "x", "cursor=AAAA", &r);
    expect_problem(&r, 400);
    resp_free(&r);
    /* A list cursor of another shape (no timestamp) is not a search cursor. */
    search(key, "x", "cursor=AQAAAAAAAAAAAAGh-Xs2mHp4kh5JBItuDTY", &r);
    expect_problem(&r, 400);
    resp_free(&r);
}

Test(search, no_query_text_is_a_500)
{
    static const char *const odd[] = {
        "\"unclosed phrase",
        "-",
        "or",
        "- - -",
        "!!!",
        "'",
        "\\",
        "a <-> b",
        "(a & b) | !c:*",
        "\"\" \"\"",
        "the",
        "or or or -or",
        "\xc3\xa9t\xc3\xa9 \xe2\x80\x9cquoted\xe2\x80\x9d",
        "a:* & b:A",
        "%%%%",
        "''''",
        "::",
        "\"-\"",
    };
    char conv[37], m[37];

    make_conv(account, conv);
    make_msg(account, conv, "Anything", "some text", m);
    for (size_t i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
        struct resp r;

        search(key, odd[i], NULL, &r);
        cr_assert(r.status == 200 || r.status == 400, "q=%s: %ld %s", odd[i], r.status, r.body);
        if (r.status == 200)
            cr_assert(json_is_array(items(&r)));
        else
            expect_problem(&r, 400);
        resp_free(&r);
    }
}

/* Only the newest 10,000 matches are ranked (db/search.h SEARCH_RANKED_MAX):
 * 10,050 messages hold "zebra", the oldest 50 in the subject too, so they
 * would rank first if every match were ranked. Paging through all of it
 * yields exactly the newest 10,000, once each. The bound counts matches,
 * not messages: a word only in the oldest one is found. */
Test(search, only_the_newest_ten_thousand_matches_are_ranked)
{
    static char ids[10050][37];
    char conv[37], oldest[37];
    int n, pages;
    PGresult *old;
    struct resp r;

    make_conv(account, conv);
    /* Ids made as inboxd makes them (UUIDv7), one millisecond apart, so the
     * order they were stored in is the order of their ids; the triggers
     * (feed position, events) have nothing to say about search. */
    sql_exec(
        "BEGIN; SET LOCAL session_replication_role = replica; "
        "CREATE TEMP TABLE zebra ON COMMIT DROP AS "
        "SELECT i, encode(set_bit(set_bit(overlay(uuid_send(gen_random_uuid()) "
        "    PLACING substring(int8send(floor(extract(epoch FROM now()) * 1000)::int8 "
        "                               - 20000 + i) FROM 3) FROM 1 FOR 6), "
        "    52, 1), 53, 1), 'hex')::uuid AS id "
        "FROM generate_series(1, 10050) i; "
        "INSERT INTO messages (account_id, id, conversation_id, direction, subject, body_text) "
        "SELECT '%s', id, '%s', 'inbound', CASE WHEN i <= 50 THEN 'zebra zebra zebra' END, "
        "       CASE WHEN i = 1 THEN 'zebra okapi' ELSE 'zebra' END FROM zebra; "
        "CREATE TEMP TABLE zebra_old AS SELECT i, id FROM zebra WHERE i <= 50; "
        "COMMIT",
        account, conv);
    sql_text(oldest, sizeof(oldest), "SELECT id FROM zebra_old WHERE i = 1");

    search(key, "okapi", NULL, &r);
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_eq(json_array_size(items(&r)), 1);
    cr_assert(has_hit(&r, oldest));
    resp_free(&r);

    n = walk(key, "/v1/search/messages?q=zebra", 200, ids, 10050, &pages);
    cr_assert_eq(n, 10000, "ranked %d matches", n);
    cr_assert_eq(pages, 50);
    old = sql_query("SELECT id FROM zebra_old");
    for (int i = 0; i < PQntuples(old); i++) {
        for (int j = 0; j < n; j++)
            cr_assert_str_neq(ids[j], PQgetvalue(old, i, 0), "an old match was ranked");
    }
    PQclear(old);
}

/* A query of operators only has no words to look for: 200 and no items. */
Test(search, operators_alone_match_nothing)
{
    static const char *const ops[] = {"----", "- - -", "\"", "or", "!", "-or", "|", "&", ":*",
                                      "(", ")", "<->", "!(", "\"-\"", " - or - "};
    char conv[37], m[37];

    make_conv(account, conv);
    make_msg(account, conv, "Anything", "some text or other", m);
    for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++) {
        struct resp r;

        search(key, ops[i], NULL, &r);
        cr_assert_eq(r.status, 200, "q=%s: %ld %s", ops[i], r.status, r.body);
        cr_assert_eq(json_array_size(items(&r)), 0, "q=%s", ops[i]);
        resp_free(&r);
    }
}

/* MHD decodes %00 and hands over a string that stops there: "a%00b" must
 * not be searched as "a" (nor any other parameter read short). */
Test(search, a_nul_in_the_query_is_400)
{
    static const char *const urls[] = {
        "/v1/search/messages?q=a%00b", "/v1/search/messages?q=%00",
        "/v1/search/messages?q=some&conversationId=%00", "/v1/search/messages?q%00x=some&q=some"};
    char conv[37], m[37];

    make_conv(account, conv);
    make_msg(account, conv, "Anything", "some text", m);
    for (size_t i = 0; i < sizeof(urls) / sizeof(urls[0]); i++) {
        struct resp r;

        th_get(&t, urls[i], key, &r);
        expect_problem(&r, 400);
        resp_free(&r);
    }
}

Test(search, needs_the_read_scope)
{
    char admin_only[64];
    struct resp r;

    th_key(&t, account, "admin", admin_only);
    search(admin_only, "x", NULL, &r);
    expect_problem(&r, 403);
    resp_free(&r);
}
