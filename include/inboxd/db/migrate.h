/*
 * migrate: applies the SQL migrations compiled into the binary.
 *
 * Each migration runs in its own transaction, in order, under a session
 * advisory lock (two instances starting at once apply each migration once),
 * and is recorded in schema_migrations with the SHA-256 of its text. An
 * applied migration whose text changed is an error: a deployed database
 * never silently diverges from the files.
 *
 * A migration whose first line is `-- inboxd: no-transaction` runs
 * outside a transaction, statement by statement (CREATE INDEX
 * CONCURRENTLY), and runs again from its start when it was interrupted.
 *
 * After them, every time, the files of sql/current/ (the definition of
 * every function and view as it is now; README, "Schema") run the same
 * way, each in its own transaction under the same lock. They only CREATE
 * OR REPLACE, so a fresh database and an old one end up alike, and a
 * function dropped or changed by hand is put back.
 */
#ifndef INBOXD_MIGRATE_H
#define INBOXD_MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include "inboxd/lib/problem.h"

/* The version this binary expects: the number of its newest migration. */
int migrate_expected(void);

/* Applies what is missing, then sql/current/; prints one line per applied
 * migration and per current file that changed a definition ("applied
 * current/feed") to out (may be NULL). Returns 0, or -1 with a one-line
 * reason in err. */
int migrate_apply(const char *conninfo, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Prints each migration with applied/pending, then each current file:
 * "applied  current/feed" when the database holds what it defines,
 * "pending" when migrate would change a definition (tried in a transaction
 * that is rolled back) or a migration is pending, and when anything is
 * pending a line that says to back up first. Read-only: creates nothing,
 * and every transaction but the rolled-back trial is READ ONLY. Returns 0,
 * or -1 with err. */
int migrate_status(const char *conninfo, FILE *out, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* *n = how many migrations and current files migrate would apply, found
 * as migrate_status() finds them (read-only). Returns 0, or -1 with err. */
int migrate_pending(const char *conninfo, int *n, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Runs pg_dump --format=custom --file FILE on that database (pg_dump from
 * PATH, the connection handed over in libpq's environment variables).
 * Returns 0 once pg_dump succeeded, or -1 with err. */
int migrate_dump(const char *conninfo, const char *file, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Creates the roles inboxd_owner, inboxd_runtime and inboxd_readonly if
 * missing and grants each what it needs (sql/roles.sql), in one
 * transaction; needs a superuser. Idempotent. Returns 0, or -1 with err. */
int migrate_roles(const char *conninfo, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* Runs the embedded seed (idempotent) in one transaction. */
int migrate_seed(const char *conninfo, char *err, size_t errlen)
    __attribute__((warn_unused_result));

/* The version before this binary's newest (0 when it has one migration). */
int migrate_previous(void);

/* The schema as /readyz sees it. */
struct migrate_schema {
    int version;  /* highest applied; 0 when none */
    int newer;    /* applied migrations this binary does not know */
    int expected; /* migrate_expected() */
    int previous; /* migrate_previous() */
};

/* Reads the schema's version on a pooled primary connection. Returns 0,
 * or -1 with pb (503 when the database is down). */
int migrate_schema(struct migrate_schema *out, struct problem *pb)
    __attribute__((warn_unused_result));

/*
 * Whether this binary serves that schema (README "Rolling upgrades"):
 * its own version; one migration newer (the next release migrated while
 * this one still runs: migrations only expand); or the previous version
 * (this release's binary started before its migration ran). Else false
 * with the reason.
 */
bool migrate_schema_ready(const struct migrate_schema *m, char *reason, size_t len);

#endif
