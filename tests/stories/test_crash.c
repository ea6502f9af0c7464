/* Drill (issue 16): PostgreSQL killed with -9 under a write load.
 *
 * Four writers post inbound messages, each write with an Idempotency-Key
 * of its own, and retry the same key until it is answered 2xx, as a caller
 * must. Once writes are flowing, the cluster's postmaster is killed with
 * -9 and started again (crash recovery: tests/pg.sh crash.sh). Accounting
 * is per request: every acknowledged write must be in the database exactly
 * once (lost 0, duplicates 0), and once the database is back a retry with
 * the same key must never be told the key is still in flight (409). The
 * time until writes succeed again is printed, not bounded. */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fixtures.h"

#define WRITERS 4
#define PER_WRITER 150

/* The shared test cluster runs with synchronous_commit off, for speed (a
 * commit it acknowledged may still be in its WAL buffers when it is
 * killed): this database asks for durable commits, as production has
 * them, and inboxd starts again so that every connection has them. */
static void
setup(void)
{
    fx_setup();
    sql_exec("ALTER DATABASE %s SET synchronous_commit = on", t.dbname);
    th_app_stop(&t);
    th_app_start(&t);
}

TestSuite(crash, .init = setup, .fini = fx_teardown, .timeout = 600);

static char conv[37];
static atomic_int acked;          /* writes answered 2xx */
static atomic_bool db_back;       /* the cluster answers again after the crash */
static atomic_llong back_at_ms;   /* when it did */
static atomic_llong first_ok_after_ms;
static atomic_int late_conflicts; /* 409 "in flight" once the database was back */
static atomic_int unavailable;    /* 503 or no answer: retried */

struct writer {
    int n;
    char ids[PER_WRITER][37];
    int statuses[8]; /* counts of status / 100 */
};

static void *
write_all(void *arg)
{
    struct writer *w = arg;
    char path[128], body[256], idem[96];
    const char *hdr[] = {idem, NULL};

    snprintf(path, sizeof(path), "/v1/conversations/%s/messages", conv);
    for (int i = 0; i < PER_WRITER; i++) {
        long long start = th_now_ms();

        snprintf(body, sizeof(body),
                 "{\"externalId\":\"crash-%d-%d\",\"direction\":\"inbound\","
                 "\"bodyText\":\"message %d of writer %d\"}",
                 w->n, i, i, w->n);
        snprintf(idem, sizeof(idem), "Idempotency-Key: crash-%d-%d", w->n, i);
        for (;;) {
            struct resp r;
            long status;

            cr_assert_lt(th_now_ms() - start, TH_PATIENCE_MS, "write %d-%d never acknowledged",
                         w->n, i);
            th_http(&t, "POST", path, key, body, hdr, &r);
            status = r.status;
            if (status >= 0 && status < 600)
                w->statuses[status / 100]++;
            if (status == 201 || status == 200) {
                snprintf(w->ids[i], 37, "%s", jstr(r.json, "id"));
                resp_free(&r);
                atomic_fetch_add(&acked, 1);
                if (atomic_load(&db_back) && atomic_load(&first_ok_after_ms) == 0)
                    atomic_store(&first_ok_after_ms, th_now_ms());
                break;
            }
            if (status == 409 && atomic_load(&db_back))
                atomic_fetch_add(&late_conflicts, 1);
            cr_assert(status == 0 || status == 503 || status == 409, "write %d-%d: %ld %s",
                      w->n, i, status, r.body ? r.body : "");
            if (status != 409)
                atomic_fetch_add(&unavailable, 1);
            resp_free(&r);
            usleep(20 * 1000); /* a client's back-off before the retry */
        }
    }
    return NULL;
}

Test(crash, no_acknowledged_write_is_lost_or_doubled)
{
    static struct writer w[WRITERS];
    pthread_t th[WRITERS];
    char channel[37];
    int lost = 0, doubled = 0;

    mk_channel(account, "email", "crash-drill", channel);
    mk_conv(account, channel, "crash-conv", conv);
    for (int i = 0; i < WRITERS; i++) {
        w[i].n = i;
        cr_assert_eq(pthread_create(&th[i], NULL, write_all, &w[i]), 0);
    }
    TH_WAIT_UNTIL(atomic_load(&acked) >= 100, "writes never got going");
    th_run_env_script("INBOXD_TEST_PG_CRASH");
    atomic_store(&back_at_ms, th_now_ms());
    atomic_store(&db_back, true);
    for (int i = 0; i < WRITERS; i++)
        pthread_join(th[i], NULL);
    PQreset(t.sql);

    for (int i = 0; i < WRITERS; i++)
        for (int j = 0; j < PER_WRITER; j++) {
            long n = sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s' "
                              "AND external_id = 'crash-%d-%d'",
                              conv, i, j);
            long same = sql_long("SELECT count(*) FROM messages WHERE id = '%s'", w[i].ids[j]);

            lost += n == 0 || same == 0;
            doubled += n > 1;
        }
    fprintf(stderr,
            "crash drill: %d writes acknowledged, %d lost, %d doubled; %d retries after 503 or "
            "no answer, %d 409s once the database was back; first write acknowledged %.1f s "
            "after the database was back\n",
            atomic_load(&acked), lost, doubled, atomic_load(&unavailable),
            atomic_load(&late_conflicts),
            (double)(atomic_load(&first_ok_after_ms) - atomic_load(&back_at_ms)) / 1000.0);
    cr_assert_eq(atomic_load(&acked), WRITERS * PER_WRITER);
    cr_assert_eq(lost, 0, "acknowledged writes lost");
    cr_assert_eq(doubled, 0, "writes stored twice");
    cr_assert_eq(sql_long("SELECT count(*) FROM messages WHERE conversation_id = '%s'", conv),
                 WRITERS * PER_WRITER);
    cr_assert_eq(atomic_load(&late_conflicts), 0, "a retry was told its key was in flight");
}
