/*
 * test_plans: list queries walk an index, whatever the size of the data
 * (DESIGN: "indexes behind every list query"; migration 0009).
 *
 * Each plan is read with EXPLAIN (FORMAT JSON) of the very SQL inboxd
 * prepares (the statement registry), with sequential scans discouraged so
 * that the small test database is planned as a large one would be, and
 * once more as a generic plan (what a prepared statement may settle on).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "fixtures.h"
#include "inboxd/db/db.h"

static void
setup(void)
{
    fx_setup();
    PQclear(th_sql(&t, "SET enable_seqscan = off"));
}

TestSuite(plans, .init = setup, .fini = fx_teardown, .timeout = 60);

/* The JSON plan of statement `name` run with `args` (SQL literals), as a
 * custom plan or a generic one. Caller frees. */
static char *
plan_of(const char *name, const char *args, bool generic)
{
    const struct db_stmt *st = db_stmt_find(name);
    char *q, *out;
    size_t n;
    PGresult *r;

    cr_assert_not_null(st, "no statement %s", name);
    n = strlen(st->sql) + 64;
    q = malloc(n);
    cr_assert_not_null(q);
    PQclear(th_sql(&t, "DEALLOCATE ALL"));
    snprintf(q, n, "PREPARE p AS %s", st->sql);
    PQclear(th_sql(&t, q));
    free(q);
    PQclear(th_sql(&t, generic ? "SET plan_cache_mode = force_generic_plan"
                               : "SET plan_cache_mode = force_custom_plan"));
    n = strlen(args) + 64;
    q = malloc(n);
    cr_assert_not_null(q);
    snprintf(q, n, "EXPLAIN (FORMAT JSON) EXECUTE p(%s)", args);
    r = th_sql(&t, q);
    free(q);
    cr_assert_eq(PQntuples(r), 1);
    out = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return out;
}

static void
expect_index_no_sort(const char *name, const char *args, const char *index)
{
    for (int generic = 0; generic < 2; generic++) {
        char *plan = plan_of(name, args, generic);
        char want[128];

        snprintf(want, sizeof(want), "\"Index Name\": \"%s\"", index);
        cr_assert(strstr(plan, want) != NULL, "%s (%s plan) does not use %s: %s", name,
                  generic ? "generic" : "custom", index, plan);
        cr_assert(strstr(plan, "\"Node Type\": \"Sort\"") == NULL, "%s (%s plan) sorts: %s", name,
                  generic ? "generic" : "custom", plan);
        free(plan);
    }
}

Test(plans, the_draft_list_walks_drafts_by_creation)
{
    char args[256];

    /* First page, then a page after a cursor. */
    snprintf(args, sizeof(args), "'%s', NULL, NULL, 51", account);
    expect_index_no_sort("drafts_list", args, "drafts_created_idx");
    snprintf(args, sizeof(args),
             "'%s', '2026-11-22T10:00:00Z', '0199fa04-b7e5-7001-9e37-000000000001', 51", account);
    expect_index_no_sort("drafts_list", args, "drafts_created_idx");
}

Test(plans, the_cursor_bounds_the_generic_plans_scan)
{
    char args[256], *plan;

    snprintf(args, sizeof(args),
             "'%s', '2026-11-22T10:00:00Z', '0199fa04-b7e5-7001-9e37-000000000001', 51", account);
    plan = plan_of("drafts_list", args, true);
    /* The row comparison is an index condition, not a filter over every
     * draft before the cursor. */
    cr_assert(strstr(plan, "\"Index Cond\": \"((account_id = $1) AND (ROW(created_at, id) > "
                           "ROW(COALESCE($2,") != NULL,
              "%s", plan);
    free(plan);
}

Test(plans, conversations_by_customer_email_use_their_index)
{
    char args[256];

    /* Account, cursor, status, channel, updated since, fetch, email. */
    snprintf(args, sizeof(args), "'%s', NULL, NULL, NULL, NULL, 51, 'Anna@Example.com'", account);
    expect_index_no_sort("conv_list_email", args, "conversations_customer_email_idx");
}

Test(plans, the_conversation_list_walks_its_primary_key_from_the_cursor)
{
    char args[256], *plan;

    snprintf(args, sizeof(args),
             "'%s', '0199fa04-b7e5-7001-9e37-000000000001', NULL, NULL, NULL, 51", account);
    expect_index_no_sort("conv_list", args, "conversations_pkey");
    plan = plan_of("conv_list", args, true);
    cr_assert(strstr(plan, "\"Index Cond\": \"((account_id = $1) AND (id > COALESCE($2,") != NULL,
              "%s", plan);
    free(plan);
}

/* True when one of plan's index conditions contains needle. */
static bool
index_cond_has(const char *plan, const char *needle)
{
    static const char cond[] = "\"Index Cond\": \"";

    for (const char *p = strstr(plan, cond); p != NULL; p = strstr(p + 1, cond)) {
        const char *start = p + sizeof(cond) - 1, *end = strchr(start, '"');
        const char *hit = strstr(start, needle);

        if (hit != NULL && end != NULL && hit < end)
            return true;
    }
    return false;
}

Test(plans, every_keyset_list_bounds_its_generic_plan_at_the_cursor)
{
    /* Statement and its arguments after the account; "C" stands for the
     * cursor's timestamp and id. */
    static const struct {
        const char *name, *args;
    } lists[] = {
        {"drafts_list", "C, 51"},           {"drafts_list_status", "C, 51, 'pending'"},
        {"outbox_list", "C, 51"},           {"outbox_list_status", "C, 51, 'pending'"},
        {"wh_list", "C, NULL, NULL, 51"},   {"notifications_list", "NULL, NULL, C, 51"},
        {"jobs_list", "NULL, NULL, C, 51"}, {"learning_list", "NULL, C, '1000', NULL, 51"},
    };
    static const char cursor[] = "'2026-11-22T10:00:00Z', '0199fa04-b7e5-7001-9e37-000000000001'";

    for (size_t i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
        char args[512], *plan;
        const char *c = strchr(lists[i].args, 'C');
        int at = (int)(c - lists[i].args);

        snprintf(args, sizeof(args), "'%s', %.*s%s%s", account, at, lists[i].args, cursor, c + 1);
        plan = plan_of(lists[i].name, args, true);
        cr_assert(index_cond_has(plan, "COALESCE("),
                  "%s: the generic plan filters instead of starting at the cursor: %s",
                  lists[i].name, plan);
        free(plan);
    }
}

/*
 * GET /v1/feed/summary never counts the queue (issue 17): it reads the
 * account's rows of feed_counts by their primary key and, per channel,
 * the first entry of the partial channel feed index (a Limit over an index
 * scan), whatever the queue holds; nothing is scanned whole or sorted.
 */
Test(plans, the_feed_summary_reads_counts_and_one_index_entry_per_channel)
{
    static const char *const channel_args[] = {"NULL", "'0199fa04-b7e5-7001-9e37-000000000002'"};

    for (size_t i = 0; i < 2; i++)
        for (int generic = 0; generic < 2; generic++) {
            char args[128], *plan;

            snprintf(args, sizeof(args), "'%s', %s", account, channel_args[i]);
            plan = plan_of("feed_summary", args, generic);
            cr_assert(strstr(plan, "\"Index Name\": \"feed_counts_pkey\"") != NULL, "%s", plan);
            cr_assert(strstr(plan, "\"Index Name\": \"conversations_channel_feed_idx\"") != NULL,
                      "%s", plan);
            cr_assert(strstr(plan, "\"Node Type\": \"Limit\"") != NULL, "%s", plan);
            cr_assert(strstr(plan, "\"Node Type\": \"Seq Scan\"") == NULL, "%s", plan);
            cr_assert(strstr(plan, "\"Node Type\": \"Sort\"") == NULL, "%s", plan);
            free(plan);
        }
}
