/*
 * registry: every module's statement table, known by name, so that
 * `inboxd sql NAME` prints exactly the SQL inboxd runs and a test can
 * prepare every statement. Tables register from constructors, before
 * main(); nothing here runs a statement.
 */
#include "inboxd/db/db.h"

#include <string.h>

#define MAX_TABLES 64

static struct {
    const struct db_stmt *stmts;
    size_t n;
} tables[MAX_TABLES];
static size_t ntables;

void
db_register(const struct db_stmt *stmts, size_t n)
{
    /* Runs from constructors before main: nothing to report to yet, and a
     * table too many is a build mistake the statement test catches. */
    if (ntables < MAX_TABLES) {
        tables[ntables].stmts = stmts;
        tables[ntables].n = n;
        ntables++;
    }
}

const struct db_stmt *
db_stmt_find(const char *name)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (tables[t].stmts[i].name && strcmp(tables[t].stmts[i].name, name) == 0)
                return &tables[t].stmts[i];
    return NULL;
}

void
db_stmt_each(void (*fn)(const struct db_stmt *st, void *arg), void *arg)
{
    for (size_t t = 0; t < ntables; t++)
        for (size_t i = 0; i < tables[t].n; i++)
            if (tables[t].stmts[i].name)
                fn(&tables[t].stmts[i], arg);
}

