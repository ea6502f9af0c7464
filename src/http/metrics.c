/*
 * metrics: request counters, latency histograms and gauges for /metrics.
 *
 * The status dimension is a fixed list of the statuses inboxd answers with
 * (plus "other"), so every counter lives in a static array indexed by route
 * and status: no allocation and no lock on the request path.
 */
#include "inboxd/http/metrics.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "build_config.h"
#include "inboxd/db/db.h"
#include "inboxd/db/replica.h"
#include "inboxd/http/admission.h"
#include "inboxd/http/live.h"
#include "inboxd/db/retention.h"
#include "inboxd/lib/feed_cache.h"
#include "inboxd/lib/procstat.h"
#include "inboxd/http/router.h"
#include "inboxd/lib/sbuf.h"

static const int statuses[] = {0,   200, 201, 204, 400, 401, 403, 404, 405,
                               409, 412, 413, 415, 422, 500, 503, -1};
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                 0.05,   0.1,   0.25,   0.5,   1,    2.5, 5};
#define NBUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_stats {
    atomic_ullong count[NSTATUS];
    atomic_ullong bucket[NBUCKETS + 1]; /* the last is +Inf */
    atomic_ullong sum_us;
};

static struct route_stats *stats; /* nroutes + 1: the last is "unmatched" */
static size_t nroutes;

int
metrics_init(void)
{
    router_routes(&nroutes);
    free(stats);
    stats = calloc(nroutes + 1, sizeof(*stats));
    return stats ? 0 : -1;
}

static size_t
status_slot(int status)
{
    for (size_t i = 0; i < NSTATUS - 1; i++)
        if (statuses[i] == status)
            return i;
    return NSTATUS - 1;
}

void
metrics_observe(int route, int status, double seconds)
{
    struct route_stats *s;
    size_t b = 0;

    if (stats == NULL)
        return;
    s = &stats[route >= 0 && (size_t)route < nroutes ? (size_t)route : nroutes];
    atomic_fetch_add_explicit(&s->count[status_slot(status)], 1, memory_order_relaxed);
    while (b < NBUCKETS && seconds > buckets[b])
        b++;
    atomic_fetch_add_explicit(&s->bucket[b], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&s->sum_us, (unsigned long long)(seconds * 1e6),
                              memory_order_relaxed);
}

static void
route_label(size_t r, const struct route *const *table, struct sbuf *b)
{
    if (r < nroutes)
        sbuf_addf(b, "route=\"%s %s\"", table[r]->method, table[r]->pattern);
    else
        sbuf_adds(b, "route=\"unmatched\"");
}

/* Rows each retention table lost or had blanked, and the last sweep. */
static void
retention_render(struct sbuf *b)
{
    unsigned long long rows[RETENTION_TABLES];
    long long last;

    db_retention_stats(rows, &last);
    sbuf_adds(b, "# HELP inboxd_retention_rows_total Rows retention deleted or blanked, by "
                 "table.\n"
                 "# TYPE inboxd_retention_rows_total counter\n");
    for (int i = 0; i < RETENTION_TABLES; i++)
        sbuf_addf(b, "inboxd_retention_rows_total{table=\"%s\"} %llu\n", retention_table_name(i),
                  rows[i]);
    sbuf_addf(b,
              "# HELP inboxd_retention_last_sweep_timestamp_seconds When the last retention "
              "sweep that ran to its end finished (Unix time; 0: none yet).\n"
              "# TYPE inboxd_retention_last_sweep_timestamp_seconds gauge\n"
              "inboxd_retention_last_sweep_timestamp_seconds %lld\n",
              last);
}

/* The read replica (database_url_ro), when there is one: whether reads
 * go there, how far behind it is, and the reads that went to the primary
 * instead (README "Read-your-writes with a replica"). */
static void
replica_render(struct sbuf *b)
{
    struct db_replica_info ri;

    db_replica_state(&ri);
    if (ri.state == DB_REPLICA_NONE)
        return;
    sbuf_addf(b,
              "# HELP inboxd_db_replica_up Whether reads may go to the replica (1), or go to "
              "the primary because it is down or not a standby (0).\n"
              "# TYPE inboxd_db_replica_up gauge\n"
              "inboxd_db_replica_up %d\n"
              "# HELP inboxd_db_replica_reads_total Reads that could use the replica, by where "
              "they went: the replica, or the primary because the replica had not replayed the "
              "caller's Inboxd-Position (behind) or was down.\n"
              "# TYPE inboxd_db_replica_reads_total counter\n"
              "inboxd_db_replica_reads_total{to=\"replica\"} %llu\n"
              "inboxd_db_replica_reads_total{to=\"primary\",reason=\"behind\"} %llu\n"
              "inboxd_db_replica_reads_total{to=\"primary\",reason=\"down\"} %llu\n",
              ri.state == DB_REPLICA_UP || ri.state == DB_REPLICA_UNKNOWN, ri.reads_replica,
              ri.reads_fallback_position, ri.reads_fallback_down);
    if (ri.lag_bytes >= 0)
        sbuf_addf(b,
                  "# HELP inboxd_db_replica_lag_bytes WAL the primary has written that the "
                  "replica has not replayed yet.\n"
                  "# TYPE inboxd_db_replica_lag_bytes gauge\n"
                  "inboxd_db_replica_lag_bytes %lld\n",
                  ri.lag_bytes);
    if (ri.lag_seconds >= 0)
        sbuf_addf(b,
                  "# HELP inboxd_db_replica_lag_seconds Age of the last transaction the replica "
                  "replayed while it has more to replay; 0 when it has replayed all it "
                  "received.\n"
                  "# TYPE inboxd_db_replica_lag_seconds gauge\n"
                  "inboxd_db_replica_lag_seconds %.3f\n",
                  ri.lag_seconds);
}

char *
metrics_render(const char *extra, size_t *len)
{
    const struct route *const *table = router_routes(&nroutes);
    struct db_stats ds;
    struct feed_cache_stats fc;
    struct admission_counts ac;
    struct live_counts ls;
    struct procstat ps;
    struct sbuf b;

    sbuf_init(&b);
    sbuf_addf(&b,
              "# HELP inboxd_build_info Build information.\n"
              "# TYPE inboxd_build_info gauge\n"
              "inboxd_build_info{version=\"%s\"} 1\n",
              INBOXD_VERSION);

    sbuf_adds(&b, "# HELP inboxd_http_requests_total HTTP requests by route and status.\n"
                  "# TYPE inboxd_http_requests_total counter\n");
    for (size_t r = 0; stats && r <= nroutes; r++)
        for (size_t s = 0; s < NSTATUS; s++) {
            unsigned long long n = atomic_load(&stats[r].count[s]);

            if (n == 0)
                continue;
            sbuf_adds(&b, "inboxd_http_requests_total{");
            route_label(r, table, &b);
            if (statuses[s] >= 0)
                sbuf_addf(&b, ",status=\"%d\"} %llu\n", statuses[s], n);
            else
                sbuf_addf(&b, ",status=\"other\"} %llu\n", n);
        }

    sbuf_adds(&b, "# HELP inboxd_http_request_duration_seconds Request latency by route.\n"
                  "# TYPE inboxd_http_request_duration_seconds histogram\n");
    for (size_t r = 0; stats && r <= nroutes; r++) {
        unsigned long long cum = 0, total = 0;

        for (size_t k = 0; k <= NBUCKETS; k++)
            total += atomic_load(&stats[r].bucket[k]);
        if (total == 0)
            continue;
        for (size_t k = 0; k <= NBUCKETS; k++) {
            cum += atomic_load(&stats[r].bucket[k]);
            sbuf_adds(&b, "inboxd_http_request_duration_seconds_bucket{");
            route_label(r, table, &b);
            if (k < NBUCKETS)
                sbuf_addf(&b, ",le=\"%g\"} %llu\n", buckets[k], cum);
            else
                sbuf_addf(&b, ",le=\"+Inf\"} %llu\n", cum);
        }
        sbuf_adds(&b, "inboxd_http_request_duration_seconds_sum{");
        route_label(r, table, &b);
        sbuf_addf(&b, "} %.6f\n", (double)atomic_load(&stats[r].sum_us) / 1e6);
        sbuf_adds(&b, "inboxd_http_request_duration_seconds_count{");
        route_label(r, table, &b);
        sbuf_addf(&b, "} %llu\n", total);
    }

    db_stats(&ds);
    sbuf_addf(&b,
              "# HELP inboxd_db_pool_size Database connections in the primary pool.\n"
              "# TYPE inboxd_db_pool_size gauge\n"
              "inboxd_db_pool_size %d\n"
              "# HELP inboxd_db_pool_in_use Connections lent to requests right now.\n"
              "# TYPE inboxd_db_pool_in_use gauge\n"
              "inboxd_db_pool_in_use %d\n"
              "# HELP inboxd_db_pool_waiting Requests waiting for a connection right now.\n"
              "# TYPE inboxd_db_pool_waiting gauge\n"
              "inboxd_db_pool_waiting %d\n"
              "# HELP inboxd_db_errors_total Statements that failed, any cause.\n"
              "# TYPE inboxd_db_errors_total counter\n"
              "inboxd_db_errors_total %llu\n"
              "# HELP inboxd_db_connects_total Database connections opened.\n"
              "# TYPE inboxd_db_connects_total counter\n"
              "inboxd_db_connects_total %llu\n"
              "# HELP inboxd_db_pool_timeouts_total Waits for a connection that gave up.\n"
              "# TYPE inboxd_db_pool_timeouts_total counter\n"
              "inboxd_db_pool_timeouts_total %llu\n"
              "# HELP inboxd_db_reads_total Reads handed to the reader, which shares round "
              "trips among them.\n"
              "# TYPE inboxd_db_reads_total counter\n"
              "inboxd_db_reads_total %llu\n"
              "# HELP inboxd_db_read_round_trips_total Round trips the reader sent its reads in.\n"
              "# TYPE inboxd_db_read_round_trips_total counter\n"
              "inboxd_db_read_round_trips_total %llu\n",
              ds.size, ds.in_use, ds.waiting, ds.errors, ds.reconnects, ds.timeouts, ds.reads,
              ds.read_trips);
    {
        static const unsigned bounds[] = DB_TX_TRIP_BOUNDS;
        unsigned long long cum = 0;

        sbuf_adds(&b, "# HELP inboxd_db_transaction_round_trips Round trips to the database per "
                      "write transaction, COMMIT's included.\n"
                      "# TYPE inboxd_db_transaction_round_trips histogram\n");
        for (int i = 0; i <= DB_TX_TRIP_NBOUNDS; i++) {
            cum += ds.tx_trips[i];
            if (i < DB_TX_TRIP_NBOUNDS)
                sbuf_addf(&b, "inboxd_db_transaction_round_trips_bucket{le=\"%u\"} %llu\n",
                          bounds[i], cum);
            else
                sbuf_addf(&b, "inboxd_db_transaction_round_trips_bucket{le=\"+Inf\"} %llu\n", cum);
        }
        sbuf_addf(&b,
                  "inboxd_db_transaction_round_trips_sum %llu\n"
                  "inboxd_db_transaction_round_trips_count %llu\n",
                  ds.tx_trips_sum, cum);
    }
    replica_render(&b);
    feed_cache_stats(&fc);
    sbuf_addf(&b,
              "# HELP inboxd_feed_cache_lookups_total Feed items looked up in the cache.\n"
              "# TYPE inboxd_feed_cache_lookups_total counter\n"
              "inboxd_feed_cache_lookups_total{result=\"hit\"} %llu\n"
              "inboxd_feed_cache_lookups_total{result=\"miss\"} %llu\n"
              "# HELP inboxd_feed_cache_evictions_total Feed items dropped for space.\n"
              "# TYPE inboxd_feed_cache_evictions_total counter\n"
              "inboxd_feed_cache_evictions_total %llu\n"
              "# HELP inboxd_feed_cache_bytes Memory held by cached feed items.\n"
              "# TYPE inboxd_feed_cache_bytes gauge\n"
              "inboxd_feed_cache_bytes %zu\n"
              "# HELP inboxd_feed_cache_items Feed items in the cache.\n"
              "# TYPE inboxd_feed_cache_items gauge\n"
              "inboxd_feed_cache_items %zu\n"
              "# HELP inboxd_feed_pages_total Feed requests by what the page table had: a page "
              "still current (hit), one the database has moved past (stale), or none (absent).\n"
              "# TYPE inboxd_feed_pages_total counter\n"
              "inboxd_feed_pages_total{result=\"hit\"} %llu\n"
              "inboxd_feed_pages_total{result=\"stale\"} %llu\n"
              "inboxd_feed_pages_total{result=\"absent\"} %llu\n"
              "# HELP inboxd_feed_pages_kept Whole feed pages kept.\n"
              "# TYPE inboxd_feed_pages_kept gauge\n"
              "inboxd_feed_pages_kept %zu\n",
              (unsigned long long)fc.hits, (unsigned long long)fc.misses,
              (unsigned long long)fc.evictions, fc.bytes, fc.entries,
              (unsigned long long)fc.page_hits, (unsigned long long)fc.page_stale,
              (unsigned long long)fc.page_absent, fc.pages);
    admission_counts(&ac);
    sbuf_addf(&b,
              "# HELP inboxd_http_connections_open Client connections open now.\n"
              "# TYPE inboxd_http_connections_open gauge\n"
              "inboxd_http_connections_open %d\n"
              "# HELP inboxd_http_connections_shut_total Connections shut before their request "
              "was in: past the header deadline, to keep the reserve, or past the per-address "
              "cap.\n"
              "# TYPE inboxd_http_connections_shut_total counter\n"
              "inboxd_http_connections_shut_total{reason=\"header_deadline\"} %llu\n"
              "inboxd_http_connections_shut_total{reason=\"reserve\"} %llu\n"
              "inboxd_http_connections_shut_total{reason=\"per_ip\"} %llu\n",
              ac.open, ac.deadline, ac.reserve, ac.per_ip);
    live_stats(&ls);
    sbuf_addf(&b,
              "# HELP inboxd_events_streams Live event streams open now (GET /v1/events).\n"
              "# TYPE inboxd_events_streams gauge\n"
              "inboxd_events_streams %d\n"
              "# HELP inboxd_claims_waiting Claims waiting for work now (waitSeconds).\n"
              "# TYPE inboxd_claims_waiting gauge\n"
              "inboxd_claims_waiting %d\n"
              "# HELP inboxd_events_listening Whether the hub's LISTEN connection is up (1) or "
              "being reopened (0).\n"
              "# TYPE inboxd_events_listening gauge\n"
              "inboxd_events_listening %d\n",
              ls.streams, ls.waiting, ls.listening ? 1 : 0);
    if (procstat_read(&ps) == 0)
        sbuf_addf(&b,
                  "# HELP process_cpu_seconds_total Total user and system CPU time spent in "
                  "seconds.\n"
                  "# TYPE process_cpu_seconds_total counter\n"
                  "process_cpu_seconds_total %.2f\n"
                  "# HELP process_open_fds Number of open file descriptors.\n"
                  "# TYPE process_open_fds gauge\n"
                  "process_open_fds %.0f\n"
                  "# HELP process_max_fds Maximum number of open file descriptors.\n"
                  "# TYPE process_max_fds gauge\n"
                  "process_max_fds %.0f\n"
                  "# HELP process_virtual_memory_bytes Virtual memory size in bytes.\n"
                  "# TYPE process_virtual_memory_bytes gauge\n"
                  "process_virtual_memory_bytes %.0f\n"
                  "# HELP process_resident_memory_bytes Resident memory size in bytes.\n"
                  "# TYPE process_resident_memory_bytes gauge\n"
                  "process_resident_memory_bytes %.0f\n"
                  "# HELP process_start_time_seconds Start time of the process since unix epoch "
                  "in seconds.\n"
                  "# TYPE process_start_time_seconds gauge\n"
                  "process_start_time_seconds %.2f\n",
                  ps.cpu_s, ps.open_fds, ps.max_fds, ps.virtual_bytes, ps.resident_bytes,
                  ps.start_time_s);
    retention_render(&b);
    if (extra != NULL)
        sbuf_adds(&b, extra);
    return sbuf_steal(&b, len);
}
