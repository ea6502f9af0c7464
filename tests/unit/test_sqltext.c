/*
 * sqltext suite: where a script splits into statements (quotes, dollar
 * quotes, comments, identifiers with '$'), and which statements are a
 * named CREATE INDEX CONCURRENTLY.
 */
#include "inboxd/lib/sqltext.h"

#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#define MAX_STMTS 8

/* Splits script; the statements, as text, into out. Returns how many. */
static int
split(const char *script, char out[MAX_STMTS][200])
{
    const char *p = script, *s;
    size_t len;
    int n = 0;

    while ((s = sqltext_next(&p, &len)) != NULL) {
        cr_assert_lt(n, MAX_STMTS, "too many statements in: %s", script);
        cr_assert_lt(len, sizeof(out[n]));
        memcpy(out[n], s, len);
        out[n][len] = '\0';
        n++;
    }
    return n;
}

static void
expect_split(const char *script, int want, const char *const *stmts)
{
    char got[MAX_STMTS][200];
    int n = split(script, got);

    cr_assert_eq(n, want, "%d statements, want %d, in: %s", n, want, script);
    for (int i = 0; i < n; i++)
        cr_assert_str_eq(got[i], stmts[i], "statement %d of: %s", i + 1, script);
}

Test(sqltext, statements_end_at_semicolons)
{
    expect_split("-- inboxd: no-transaction\nCREATE TABLE a (x int);\n\n"
                 "  CREATE INDEX a_x ON a (x);\n",
                 2, (const char *const[]){"CREATE TABLE a (x int)", "CREATE INDEX a_x ON a (x)"});
    expect_split("SELECT 1; SELECT 2", 2, (const char *const[]){"SELECT 1", "SELECT 2"});
}

Test(sqltext, a_script_of_only_spaces_and_comments_has_no_statement)
{
    expect_split("", 0, NULL);
    expect_split("  \n-- a comment; not a statement\n/* nor; this */\n", 0, NULL);
    expect_split("SELECT 1;\n-- the end;\n", 1, (const char *const[]){"SELECT 1"});
}

Test(sqltext, a_semicolon_in_a_quote_or_comment_does_not_split)
{
    expect_split("SELECT 'a;b', 'it''s;'; SELECT 2", 2,
                 (const char *const[]){"SELECT 'a;b', 'it''s;'", "SELECT 2"});
    expect_split("SELECT \"we;ird\" FROM t; SELECT 2", 2,
                 (const char *const[]){"SELECT \"we;ird\" FROM t", "SELECT 2"});
    expect_split("SELECT E'it\\'s;'; SELECT 2", 2,
                 (const char *const[]){"SELECT E'it\\'s;'", "SELECT 2"});
    expect_split("SELECT 1 -- no; split\n; SELECT /* ; */ 2", 2,
                 (const char *const[]){"SELECT 1 -- no; split\n", "SELECT /* ; */ 2"});
    /* Comments nest, as in PostgreSQL. */
    expect_split("SELECT 1 /* a /* b */ ; */; SELECT 2", 2,
                 (const char *const[]){"SELECT 1 /* a /* b */ ; */", "SELECT 2"});
}

Test(sqltext, a_backslash_escapes_only_in_an_e_string)
{
    /* In a standard string a backslash is a character: 'a\' ends there. */
    expect_split("SELECT 'a\\'; SELECT 2", 2, (const char *const[]){"SELECT 'a\\'", "SELECT 2"});
    /* Nor after a word that merely ends in E. */
    expect_split("SELECT 1 WHERE'a\\'; SELECT 2", 2,
                 (const char *const[]){"SELECT 1 WHERE'a\\'", "SELECT 2"});
    expect_split("SELECT (e'a\\';'); SELECT 2", 2,
                 (const char *const[]){"SELECT (e'a\\';')", "SELECT 2"});
}

Test(sqltext, a_dollar_quoted_body_is_one_piece)
{
    expect_split("CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ LANGUAGE sql; SELECT 2", 2,
                 (const char *const[]){"CREATE FUNCTION f() RETURNS int AS $$ SELECT 1; $$ "
                                       "LANGUAGE sql",
                                       "SELECT 2"});
    expect_split("DO $body$ BEGIN PERFORM $$;$$; END $body$; SELECT 2", 2,
                 (const char *const[]){"DO $body$ BEGIN PERFORM $$;$$; END $body$", "SELECT 2"});
}

Test(sqltext, parameters_and_identifiers_with_dollars_start_no_quote)
{
    expect_split("PREPARE p AS SELECT $1; SELECT 2", 2,
                 (const char *const[]){"PREPARE p AS SELECT $1", "SELECT 2"});
    expect_split("SELECT a$b$ FROM t; SELECT 2$", 2,
                 (const char *const[]){"SELECT a$b$ FROM t", "SELECT 2$"});
}

Test(sqltext, an_unterminated_quote_or_comment_runs_to_the_end)
{
    expect_split("SELECT 1; SELECT 'a; b", 2, (const char *const[]){"SELECT 1", "SELECT 'a; b"});
    expect_split("SELECT 1; SELECT $x$ a; b", 2,
                 (const char *const[]){"SELECT 1", "SELECT $x$ a; b"});
    expect_split("SELECT 1; /* a; b", 1, (const char *const[]){"SELECT 1"});
    expect_split("SELECT 1; /* a /* b */ c; */", 1, (const char *const[]){"SELECT 1"});
}

static bool
index_name(const char *stmt, char *name, size_t namelen)
{
    return sqltext_concurrent_index(stmt, strlen(stmt), name, namelen);
}

Test(sqltext, a_named_concurrent_index_is_recognised)
{
    char name[64];

    cr_assert(index_name("CREATE INDEX CONCURRENTLY m_at ON messages (at)", name, sizeof(name)));
    cr_assert_str_eq(name, "m_at");
    cr_assert(index_name("create unique index concurrently if not exists\n\tm_u ON m(x)", name,
                         sizeof(name)));
    cr_assert_str_eq(name, "m_u");
    cr_assert(index_name("CREATE INDEX CONCURRENTLY public.m_at ON m (at)", name, sizeof(name)));
    cr_assert_str_eq(name, "public.m_at");
    cr_assert(index_name("CREATE INDEX CONCURRENTLY \"My ( Index\" ON m (at)", name, sizeof(name)));
    cr_assert_str_eq(name, "\"My ( Index\"");
    cr_assert(index_name("CREATE INDEX CONCURRENTLY m_at(at)", name, sizeof(name)));
    cr_assert_str_eq(name, "m_at");
}

Test(sqltext, other_statements_are_not)
{
    char name[8];

    cr_assert_not(index_name("CREATE INDEX m_at ON m (at)", name, sizeof(name)));
    cr_assert_not(index_name("CREATE INDEX CONCURRENTLY ON m (at)", name, sizeof(name)),
                  "an index without a name cannot be looked up");
    cr_assert_not(index_name("CREATE TABLE t (x int)", name, sizeof(name)));
    cr_assert_not(index_name("DROP INDEX CONCURRENTLY m_at", name, sizeof(name)));
    cr_assert_not(index_name("CREATE INDEX CONCURRENTLY", name, sizeof(name)));
    cr_assert_not(index_name("", name, sizeof(name)));
    cr_assert_not(index_name("CREATE INDEX CONCURRENTLY a_long_name ON m (at)", name, sizeof(name)),
                  "a name longer than the buffer");
}

/* The length bounds the statement: nothing past it is read as its name. */
Test(sqltext, the_length_bounds_the_statement)
{
    const char *s = "CREATE INDEX CONCURRENTLY m_at ON m (at)";
    char name[64];

    cr_assert(
        sqltext_concurrent_index(s, strlen("CREATE INDEX CONCURRENTLY m_"), name, sizeof(name)));
    cr_assert_str_eq(name, "m_");
    cr_assert_not(
        sqltext_concurrent_index(s, strlen("CREATE INDEX CONCURRENTLY "), name, sizeof(name)));
}
