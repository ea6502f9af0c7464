/*
 * replica: read-your-writes with a read replica (README "Read-your-writes
 * with a replica"), for the HTTP layer and the db files: the positions a
 * request needs and answers with, and the replica's state for /readyz and
 * /metrics. The routing itself is the db layer's (pool_for_reads).
 */
#ifndef INBOXD_REPLICA_H
#define INBOXD_REPLICA_H

#include <stdbool.h>
#include <stdint.h>

/*
 * Positions are WAL positions (lsn.h), kept per thread: the HTTP layer calls
 * db_position_begin() before a request's handler runs on a thread, with
 * the position the caller sent back (0: none); the reads of that thread
 * that may use the replica use it only once it has replayed that far, and
 * db_position_committed() is then the position of the last commit (or
 * idempotent replay) of that handler, 0 when it committed nothing.
 */
void db_position_begin(uint64_t need);
uint64_t db_position_committed(void);
/* Notes a position this thread's handler answers with: db_tx's commits,
 * and the db files whose read stands for an earlier commit (an
 * idempotent replay). The highest noted wins. */
void db_position_note(uint64_t lsn);

enum {
    DB_REPLICA_NONE,        /* no database_url_ro */
    DB_REPLICA_UNKNOWN,     /* not asked yet */
    DB_REPLICA_UP,          /* a standby that answers: reads go there */
    DB_REPLICA_DOWN,        /* cannot be reached: reads go to the primary */
    DB_REPLICA_NOT_STANDBY, /* answers but is not in recovery: not used */
};

/* What /readyz and /metrics say of the replica. */
struct db_replica_info {
    int state;                /* DB_REPLICA_* */
    uint64_t replay_lsn;      /* 0 before the first answer */
    long long lag_bytes;      /* primary's WAL position minus replay_lsn; -1 unknown */
    double lag_seconds;       /* -1 unknown; 0 when everything received is replayed */
    long long checked_ms_ago; /* since the last answer; -1 never */
    unsigned long long reads_replica;           /* reads sent to the replica */
    unsigned long long reads_fallback_position; /* to the primary: the replica was behind */
    unsigned long long reads_fallback_down;     /* to the primary: the replica was down */
};
void db_replica_state(struct db_replica_info *out);
/* "none", "unknown", "up", "down", "not-standby". Static. */
const char *db_replica_state_name(int state);

/* The watcher of the replica's replay position (a thread; only with a
 * replica). Start after db_init(), stop before db_shutdown(). Returns 0
 * or -1. */
int db_replica_watch_start(void) __attribute__((warn_unused_result));
void db_replica_watch_stop(void);

#endif
