/*
 * topology_load: the write (and read) load of the topology drills
 * (tests/topology/run.sh), sent through the balancer the way the sync
 * service and the dashboard send it.
 *
 * Each writer posts signed webhook deliveries, one at a time, each with a
 * deliveryId of its own (the source's idempotency key: a repeated one is
 * answered 200 with the same ids, never stored twice). A delivery that
 * fails (no answer, 5xx, 401) is sent again with the same deliveryId,
 * signed anew, after a short pause, until it is acknowledged (200 or 201)
 * or MAX_WRITE_S has passed (given up). Each reader GETs a list that may
 * come from the replica. Every attempt is one line of the log, with the
 * wall clock in ms, so that the drill can tell what happened when:
 *
 *   ack MS DELIVERY_ID STATUS     a write acknowledged
 *   fail MS DELIVERY_ID STATUS    an attempt that failed (0: no answer)
 *   gaveup MS DELIVERY_ID         a write never acknowledged
 *   rok MS STATUS / rfail MS STATUS   a read
 *
 * The secret is read from its file before each attempt, so that the drill
 * can switch the sender to a new one during a rotation. The run stops once
 * the stop file exists (every write under way is finished first) or after
 * --max-seconds, whichever comes first; the loops are bounded in time.
 */
#include <curl/curl.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/sig.h"

#define MAX_WRITE_S 120 /* a write not acknowledged by then is given up */
#define RETRY_PAUSE_MS 100

static struct {
    const char *unix_path, *base, *source, *secret_file, *key_file, *prefix, *stop_file;
    int writers, readers, pace_ms, max_seconds;
    FILE *log;
    pthread_mutex_t mu;
    time_t started;
    long acked, failed, gaveup, rok, rfail;
} g = {.writers = 2, .readers = 1, .pace_ms = 20, .max_seconds = 600,
       .mu = PTHREAD_MUTEX_INITIALIZER};

static long long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
pause_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    nanosleep(&ts, NULL);
}

static bool
stopping(void)
{
    return access(g.stop_file, F_OK) == 0 || time(NULL) - g.started >= g.max_seconds;
}

static void
note(long *counter, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
note(long *counter, const char *fmt, ...)
{
    va_list ap;

    pthread_mutex_lock(&g.mu);
    (*counter)++;
    va_start(ap, fmt);
    vfprintf(g.log, fmt, ap);
    va_end(ap);
    fflush(g.log);
    pthread_mutex_unlock(&g.mu);
}

/* The first line of a small file, without its newline; "" if unreadable. */
static void
read_line(const char *path, char *out, size_t n)
{
    FILE *f = fopen(path, "r");

    out[0] = '\0';
    if (f == NULL)
        return;
    if (fgets(out, (int)n, f) == NULL)
        out[0] = '\0';
    out[strcspn(out, "\r\n")] = '\0';
    fclose(f);
}

static size_t
discard(void *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

static CURL *
handle(void)
{
    CURL *h = curl_easy_init();

    if (h == NULL) {
        fprintf(stderr, "topology_load: curl_easy_init failed\n");
        exit(2);
    }
    if (g.unix_path != NULL)
        curl_easy_setopt(h, CURLOPT_UNIX_SOCKET_PATH, g.unix_path);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    return h;
}

/* One attempt; the HTTP status, or 0 when there was no answer. */
static long
perform(CURL *h)
{
    long status = 0;

    if (curl_easy_perform(h) != CURLE_OK)
        return 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    return status;
}

static long
deliver(CURL *h, const char *id, const char *conv)
{
    char body[768], url[256], secret[256], sig[72], ts_hdr[64], sig_hdr[96];
    struct curl_slist *hdrs = NULL;
    long long ts = now_ms() / 1000;
    long status;

    snprintf(body, sizeof(body),
             "{\"deliveryId\":\"%s\",\"topic\":\"message.created\","
             "\"channel\":{\"type\":\"email\",\"externalId\":\"topology\",\"name\":\"Topology\"},"
             "\"conversation\":{\"externalId\":\"%s\",\"subject\":\"Load\"},"
             "\"message\":{\"externalId\":\"%s\",\"bodyText\":\"Where is my order?\"}}",
             id, conv, id);
    read_line(g.secret_file, secret, sizeof(secret));
    if (sig_sign(secret, ts, body, strlen(body), sig) != 0)
        return 0;
    snprintf(url, sizeof(url), "%s/v1/webhooks/%s", g.base, g.source);
    snprintf(ts_hdr, sizeof(ts_hdr), "X-Inboxd-Timestamp: %lld", ts);
    snprintf(sig_hdr, sizeof(sig_hdr), "X-Inboxd-Signature: %s", sig);
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, ts_hdr);
    hdrs = curl_slist_append(hdrs, sig_hdr);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
    status = perform(h);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return status;
}

static void *
writer(void *arg)
{
    int n = (int)(long)arg;
    CURL *h = handle();
    char conv[96];

    snprintf(conv, sizeof(conv), "%s-conv-%d", g.prefix, n);
    for (long i = 0; !stopping(); i++) {
        char id[128];
        long long first = now_ms();
        bool done = false;

        snprintf(id, sizeof(id), "%s-w%d-%ld", g.prefix, n, i);
        while (!done) {
            long status = deliver(h, id, conv);

            if (status == 200 || status == 201) {
                note(&g.acked, "ack %lld %s %ld\n", now_ms(), id, status);
                done = true;
            } else if (now_ms() - first > MAX_WRITE_S * 1000LL) {
                note(&g.gaveup, "gaveup %lld %s\n", now_ms(), id);
                done = true;
            } else {
                note(&g.failed, "fail %lld %s %ld\n", now_ms(), id, status);
                pause_ms(RETRY_PAUSE_MS);
            }
        }
        pause_ms(g.pace_ms);
    }
    curl_easy_cleanup(h);
    return NULL;
}

static void *
reader(void *arg)
{
    CURL *h = handle();
    char key[256], auth[300], url[256];
    struct curl_slist *hdrs = NULL;

    (void)arg;
    read_line(g.key_file, key, sizeof(key));
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", key);
    hdrs = curl_slist_append(hdrs, auth);
    snprintf(url, sizeof(url), "%s/v1/conversations?limit=5", g.base);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    while (!stopping()) {
        long status = perform(h);

        if (status == 200)
            note(&g.rok, "rok %lld %ld\n", now_ms(), status);
        else
            note(&g.rfail, "rfail %lld %ld\n", now_ms(), status);
        pause_ms(g.pace_ms);
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static void
usage(void)
{
    fprintf(stderr,
            "usage: topology_load --base URL [--unix PATH] --source S --secret-file F\n"
            "         --key-file F --prefix P --stop-file F [--writers N] [--readers N]\n"
            "         [--pace-ms MS] [--max-seconds S] [--log F]\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    pthread_t th[64];
    int nth = 0;
    const char *log_path = NULL;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

        if (v == NULL)
            usage();
        if (strcmp(a, "--base") == 0)
            g.base = v;
        else if (strcmp(a, "--unix") == 0)
            g.unix_path = v;
        else if (strcmp(a, "--source") == 0)
            g.source = v;
        else if (strcmp(a, "--secret-file") == 0)
            g.secret_file = v;
        else if (strcmp(a, "--key-file") == 0)
            g.key_file = v;
        else if (strcmp(a, "--prefix") == 0)
            g.prefix = v;
        else if (strcmp(a, "--stop-file") == 0)
            g.stop_file = v;
        else if (strcmp(a, "--log") == 0)
            log_path = v;
        else if (strcmp(a, "--writers") == 0)
            g.writers = atoi(v);
        else if (strcmp(a, "--readers") == 0)
            g.readers = atoi(v);
        else if (strcmp(a, "--pace-ms") == 0)
            g.pace_ms = atoi(v);
        else if (strcmp(a, "--max-seconds") == 0)
            g.max_seconds = atoi(v);
        else
            usage();
        i++;
    }
    if (!g.base || !g.source || !g.secret_file || !g.key_file || !g.prefix || !g.stop_file ||
        g.writers < 0 || g.readers < 0 || g.writers + g.readers > 64 ||
        g.writers + g.readers == 0)
        usage();
    g.log = log_path ? fopen(log_path, "a") : stdout;
    if (g.log == NULL) {
        perror(log_path);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g.started = time(NULL);
    for (int i = 0; i < g.writers; i++)
        if (pthread_create(&th[nth++], NULL, writer, (void *)(long)i) != 0)
            return 2;
    for (int i = 0; i < g.readers; i++)
        if (pthread_create(&th[nth++], NULL, reader, NULL) != 0)
            return 2;
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    fprintf(stderr, "topology_load %s: %ld acknowledged, %ld failed attempts, %ld given up; "
            "reads %ld ok, %ld failed\n",
            g.prefix, g.acked, g.failed, g.gaveup, g.rok, g.rfail);
    if (log_path)
        fclose(g.log);
    curl_global_cleanup();
    return 0;
}
