/*
 * sqltext: SQL scripts read as text, without a server.
 *
 * A migration that must run outside a transaction is sent one statement
 * at a time (src/db/migrate.c), so its script is split here, the way psql
 * splits one: a ';' ends a statement unless it is inside a quoted string
 * ('...', E'...' with backslash escapes, "..."), a dollar-quoted body
 * ($$...$$, $tag$...$tag$) or a comment (--, and C-style ones, which
 * nest). Text that is not valid SQL is split all the same; the server
 * judges it.
 */
#ifndef INBOXD_SQLTEXT_H
#define INBOXD_SQLTEXT_H

#include <stdbool.h>
#include <stddef.h>

/* The next statement of the NUL-terminated script at *pp: returns its
 * start (past spaces and comments) and sets *len to its length without
 * the ';', and *pp past the ';'. NULL when only spaces and comments are
 * left. An unterminated quote or comment runs to the end of the script. */
const char *sqltext_next(const char **pp, size_t *len);

/* Whether the statement (len bytes at stmt) is CREATE [UNIQUE] INDEX
 * CONCURRENTLY [IF NOT EXISTS] <name> ..., keywords in any case; its name,
 * as written (quotes and schema included), into name. False, too, for
 * such an index without a name, or a name of namelen bytes or more. */
bool sqltext_concurrent_index(const char *stmt, size_t len, char *name, size_t namelen);

#endif
