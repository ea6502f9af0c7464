/*
 * mixday: the three callers of inboxd at once, for the benchmark's mixed day
 * (issue 18; run.sh --mix RATES).
 *
 *   the sync service   posts signed message.created webhooks at a steady
 *                      offered rate (senders on a fixed schedule: a late
 *                      answer delays nothing after it), and claims and
 *                      delivers the outbox;
 *   the assistants     claim draft requests and post a draft for each;
 *   the dashboard      R reviewers each read the feed's first page every 2 s
 *                      and approve (3 in 4) or edit what is theirs on it
 *                      (item k belongs to reviewer k mod R, so two reviewers
 *                      never race for one draft).
 *
 *   mixday -u URL -k KEY -s SECRET -S SOURCE -U USER_ID -c CONVS -r RATE
 *          -d SECONDS [-R REVIEWERS] [-A ASSISTANTS] [-D DELIVERERS] [-W WAIT]
 *          [-t RUN_TAG] [-E EVENTS_FILE]
 *
 * CONVS: one conversation per line, "type<TAB>channelExternalId<TAB>
 * channelName<TAB>conversationExternalId", as run.sh writes it. Workers
 * with nothing to claim ask again after 200 ms, or with -W S hold the claim
 * open up to S s (waitSeconds) where inboxd supports it.
 *
 * Prints one line:
 *   MIXRESULT rate=.. sent=.. achieved=.. webhook_bad=.. feed_reads=..
 *             feed_p50_ms=.. feed_p99_ms=.. feed_bad=.. drafts=.. actions=..
 *             action_conflicts=.. delivered=.. bad=.. request_claim_p50_ms=..
 *             request_claim_p99_ms=.. outbox_claim_p50_ms=.. outbox_claim_p99_ms=..
 * (claims: from the item's createdAt, when it was queued, to the claim's
 * answer; the outbox item's createdAt is the approval's)
 * With -E, a dashboard also listens to GET /v1/events?types=draft.ready
 * and writes "<arrival, µs since the epoch> <draftId>" per event to
 * EVENTS_FILE, which run.sh sets beside each draft's commit.
 * The times from webhook to draft, to approval and to delivery are read
 * afterwards from the database by run.sh (the rows' own timestamps), for
 * the messages whose externalId starts with "mixm-RUN_TAG-".
 *
 * libcurl (keep-alive, one handle per actor), jansson, and src/lib/sig.c to
 * sign. Built by run.sh with cc.
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "inboxd/lib/sig.h"

#define FEED_EVERY_MS 2000
#define IDLE_RETRY_MS 200
#define MAX_SAMPLES (1 << 20)

struct conv {
    char *type, *chan_ext, *chan_name, *ext;
};

static struct {
    const char *url, *key, *secret, *source, *user, *tag, *events_out;
    double rate, seconds;
    int reviewers, assistants, deliverers, wait_s;
    struct conv *convs;
    size_t nconvs;
} opt = {.reviewers = 20, .assistants = 4, .deliverers = 2, .tag = "run"};

static double t_start, t_end; /* CLOCK_MONOTONIC seconds */
static atomic_bool stopping;

static atomic_long sent, webhook_bad, feed_bad, drafts, actions, action_conflicts, delivered,
    other_bad;

/* Latencies in µs, appended under a lock: the feed reads as the reviewers
 * saw them, and for each claimed item the time from its createdAt (queued)
 * to the claim's answer. */
struct samples {
    pthread_mutex_t mu;
    long *v;
    size_t n;
};
static struct samples feed_lat = {PTHREAD_MUTEX_INITIALIZER, NULL, 0},
                      request_claim_lat = {PTHREAD_MUTEX_INITIALIZER, NULL, 0},
                      outbox_claim_lat = {PTHREAD_MUTEX_INITIALIZER, NULL, 0};

static void
sample_add(struct samples *s, long us)
{
    pthread_mutex_lock(&s->mu);
    if (s->v == NULL)
        s->v = malloc(MAX_SAMPLES * sizeof(*s->v));
    if (s->v != NULL && s->n < MAX_SAMPLES)
        s->v[s->n++] = us;
    pthread_mutex_unlock(&s->mu);
}

/* An RFC 3339 UTC time as inboxd writes it (2026-12-07T03:32:48.442Z) in
 * µs since the epoch; -1 if it is not one. */
static long long
utc_us(const char *t)
{
    struct tm tm = {0};
    const char *rest;
    long long us;

    if (t == NULL || (rest = strptime(t, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
        return -1;
    us = (long long)timegm(&tm) * 1000000;
    if (*rest == '.') {
        long long scale = 100000;

        for (rest++; *rest >= '0' && *rest <= '9'; rest++, scale /= 10)
            us += (*rest - '0') * scale;
    }
    return *rest == 'Z' ? us : -1;
}

static long long
wall_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* The first few failures, on stderr (run.sh keeps it in its log). */
static atomic_int reported;

static void
note_bad(atomic_long *counter, const char *what, long status, const char *body)
{
    atomic_fetch_add(counter, 1);
    if (atomic_fetch_add(&reported, 1) < 20)
        fprintf(stderr, "mixday: %s answered %ld: %.300s\n", what, status, body ? body : "");
}

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_until(double t)
{
    double d;

    while (!stopping && (d = t - now_s()) > 0) {
        struct timespec ts = {.tv_sec = (time_t)d, .tv_nsec = (long)((d - (double)(time_t)d) * 1e9)};

        if (nanosleep(&ts, NULL) != 0 && errno != EINTR)
            return;
    }
}

/* ---- HTTP ------------------------------------------------------------------------------- */

struct http {
    CURL *c;
    struct curl_slist *auth;
    char *body;
    size_t len, cap;
};

static size_t
on_data(char *p, size_t size, size_t n, void *data)
{
    struct http *h = data;
    size_t add = size * n;

    if (h->len + add + 1 > h->cap) {
        size_t cap = (h->len + add + 1) * 2;
        char *b = realloc(h->body, cap);

        if (b == NULL)
            return 0;
        h->body = b;
        h->cap = cap;
    }
    memcpy(h->body + h->len, p, add);
    h->len += add;
    h->body[h->len] = '\0';
    return add;
}

static void
http_init(struct http *h)
{
    char auth[512];

    memset(h, 0, sizeof(*h));
    if ((h->c = curl_easy_init()) == NULL) {
        fprintf(stderr, "mixday: curl_easy_init failed\n");
        exit(1);
    }
    snprintf(auth, sizeof(auth), "Authorization: Bearer %s", opt.key);
    h->auth = curl_slist_append(NULL, auth);
    h->auth = curl_slist_append(h->auth, "Content-Type: application/json");
    curl_easy_setopt(h->c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h->c, CURLOPT_WRITEDATA, h);
    curl_easy_setopt(h->c, CURLOPT_TIMEOUT, 60L);
    curl_easy_setopt(h->c, CURLOPT_NOSIGNAL, 1L);
}

static void
http_free(struct http *h)
{
    curl_slist_free_all(h->auth);
    curl_easy_cleanup(h->c);
    free(h->body);
}

/* One request; returns the status (0 when none came) and leaves the answer
 * in h->body. extra: more headers (NULL for none). */
static long
http_do(struct http *h, const char *method, const char *path, const char *body,
        struct curl_slist *extra)
{
    char url[1024];
    struct curl_slist *hdrs = h->auth, *last = NULL;
    long status = 0;

    snprintf(url, sizeof(url), "%s%s", opt.url, path);
    h->len = 0;
    if (h->body != NULL)
        h->body[0] = '\0';
    if (extra != NULL) { /* chained in front for this request only */
        for (last = extra; last->next != NULL; last = last->next)
            ;
        last->next = h->auth;
        hdrs = extra;
    }
    curl_easy_setopt(h->c, CURLOPT_URL, url);
    curl_easy_setopt(h->c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, method);
    if (body != NULL) {
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h->c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(h->c, CURLOPT_HTTPGET, 1L);
        curl_easy_setopt(h->c, CURLOPT_CUSTOMREQUEST, NULL);
    }
    if (curl_easy_perform(h->c) == CURLE_OK)
        curl_easy_getinfo(h->c, CURLINFO_RESPONSE_CODE, &status);
    if (last != NULL)
        last->next = NULL;
    return status;
}

static json_t *
http_json(struct http *h)
{
    return h->len ? json_loadb(h->body, h->len, 0, NULL) : NULL;
}

/* ---- the sync service: webhooks ------------------------------------------------------------ */

static void *
sender(void *arg)
{
    int id = (int)(intptr_t)arg, nsenders = (int)(opt.rate / 25) + 1;
    struct http h;
    unsigned seed = (unsigned)id * 7919u + 1;
    char path[256];

    http_init(&h);
    snprintf(path, sizeof(path), "/v1/webhooks/%s", opt.source);
    /* Sender id of nsenders sends at t_start + (id + k * nsenders) / rate. */
    for (long k = 0;; k++) {
        double due = t_start + ((double)id + (double)k * nsenders) / opt.rate;
        const struct conv *c = &opt.convs[rand_r(&seed) % opt.nconvs];
        char body[2048], sig[72], hts[64], hsig[128];
        struct curl_slist *extra;
        long st;
        int n;

        if (due >= t_end)
            break;
        sleep_until(due);
        if (stopping)
            break;
        n = snprintf(body, sizeof(body),
                     "{\"deliveryId\":\"mix-%s-%d-%ld\",\"topic\":\"message.created\","
                     "\"channel\":{\"type\":\"%s\",\"externalId\":\"%s\",\"name\":\"%s\"},"
                     "\"conversation\":{\"externalId\":\"%s\",\"subject\":\"Re: order status\"},"
                     "\"message\":{\"externalId\":\"mixm-%s-%d-%ld\",\"bodyText\":\"Hi, where is "
                     "my order? It has been a week and the tracking says label created.\"}}",
                     opt.tag, id, k, c->type, c->chan_ext, c->chan_name, c->ext, opt.tag, id, k);
        if (n < 0 || (size_t)n >= sizeof(body))
            continue;
        long long ts = (long long)time(NULL);

        if (sig_sign(opt.secret, ts, body, (size_t)n, sig) != 0) {
            fprintf(stderr, "mixday: cannot sign\n");
            exit(1);
        }
        snprintf(hts, sizeof(hts), "X-Inboxd-Timestamp: %lld", ts);
        snprintf(hsig, sizeof(hsig), "X-Inboxd-Signature: %s", sig);
        extra = curl_slist_append(NULL, hts);
        extra = curl_slist_append(extra, hsig);
        st = http_do(&h, "POST", path, body, extra);
        curl_slist_free_all(extra);
        atomic_fetch_add(&sent, 1);
        if (st != 201)
            note_bad(&webhook_bad, "webhook", st, h.body);
    }
    http_free(&h);
    return NULL;
}

/* ---- claims: the assistants and the sync service's deliveries -------------------------------- */

/* Claims at most 5 items; answers the items array (a new reference) or NULL. */
static json_t *
claim(struct http *h, const char *path, const char *worker)
{
    char body[256];
    json_t *doc, *items;
    long st;

    size_t n = (size_t)snprintf(body, sizeof(body), "{\"limit\":5,\"leaseSeconds\":60");

    if (worker != NULL)
        n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"workerId\":\"%s\"", worker);
    if (opt.wait_s)
        n += (size_t)snprintf(body + n, sizeof(body) - n, ",\"waitSeconds\":%d", opt.wait_s);
    snprintf(body + n, sizeof(body) - n, "}");
    st = http_do(h, "POST", path, body, NULL);
    if (st != 200) {
        note_bad(&other_bad, path, st, h->body);
        return NULL;
    }
    doc = http_json(h);
    items = json_incref(json_object_get(doc, "items"));
    json_decref(doc);
    return items;
}

/* Claims from path until the run ends, handing each item to each(). */
static void
work_loop(const char *path, const char *worker, struct samples *lat,
          void (*each)(struct http *, const json_t *))
{
    struct http h;

    http_init(&h);
    while (!stopping && now_s() < t_end) {
        json_t *items = claim(&h, path, worker), *it;
        long long claimed = wall_us();
        size_t i;

        if (json_array_size(items) == 0 && !opt.wait_s)
            sleep_until(now_s() + IDLE_RETRY_MS / 1000.0);
        json_array_foreach (items, i, it) {
            long long queued = utc_us(json_string_value(json_object_get(it, "createdAt")));

            if (queued > 0)
                sample_add(lat, (long)(claimed - queued));
        }
        json_array_foreach (items, i, it)
            each(&h, it);
        json_decref(items);
    }
    http_free(&h);
}

/* The assistants: a draft for each claimed request. */
static void
write_draft(struct http *h, const json_t *it)
{
    char path[128], body[1024];
    long st;

    snprintf(path, sizeof(path), "/v1/conversations/%s/drafts",
             json_string_value(json_object_get(it, "conversationId")));
    snprintf(body, sizeof(body),
             "{\"triggerMessageId\":\"%s\",\"draftRequestId\":\"%s\",\"modelKey\":\"bench\","
             "\"promptVersion\":\"v1\",\"suggestedText\":\"Hi, thanks for your patience. "
             "Your order shipped this morning; the tracking will update within a day.\"}",
             json_string_value(json_object_get(it, "messageId")),
             json_string_value(json_object_get(it, "id")));
    if ((st = http_do(h, "POST", path, body, NULL)) == 201)
        atomic_fetch_add(&drafts, 1);
    else
        note_bad(&other_bad, "draft", st, h->body);
}

/* The sync service: each claimed outbound message delivered. */
static void
deliver(struct http *h, const json_t *it)
{
    const char *id = json_string_value(json_object_get(it, "id"));
    char path[128], body[128];
    long st;

    snprintf(path, sizeof(path), "/v1/outbox/%s/delivered", id);
    snprintf(body, sizeof(body), "{\"externalId\":\"mixd-%s\"}", id);
    if ((st = http_do(h, "POST", path, body, NULL)) == 200)
        atomic_fetch_add(&delivered, 1);
    else
        note_bad(&other_bad, "delivered", st, h->body);
}

static void *
assistant(void *arg)
{
    char worker[32];

    snprintf(worker, sizeof(worker), "mix-assistant-%d", (int)(intptr_t)arg);
    work_loop("/v1/draft-requests/claim", worker, &request_claim_lat, write_draft);
    return NULL;
}

static void *
deliverer(void *arg)
{
    (void)arg;
    work_loop("/v1/outbox/claim", NULL, &outbox_claim_lat, deliver);
    return NULL;
}

/* ---- the dashboard's event stream -------------------------------------------------------- */

struct listen {
    FILE *out;
    char line[4096];
    size_t len;
};

/* SSE lines: each "data: {...}" of a draft.ready names its draft. */
static size_t
on_events(char *p, size_t size, size_t n, void *data)
{
    struct listen *l = data;
    size_t add = size * n;
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    for (size_t i = 0; i < add; i++) {
        if (p[i] != '\n') {
            if (l->len + 1 < sizeof(l->line))
                l->line[l->len++] = p[i];
            continue;
        }
        l->line[l->len] = '\0';
        if (strncmp(l->line, "data: ", 6) == 0) {
            json_t *d = json_loads(l->line + 6, 0, NULL);
            const char *id = json_string_value(json_object_get(d, "draftId"));

            if (id != NULL)
                fprintf(l->out, "%lld %s\n",
                        (long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000, id);
            json_decref(d);
        }
        l->len = 0;
    }
    return stopping ? 0 : add; /* 0 ends the transfer at the end of the run */
}

/* Called about once a second by libcurl: ends the stream when the run does. */
static int
on_progress(void *p, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)p, (void)dt, (void)dn, (void)ut, (void)un;
    return stopping ? 1 : 0;
}

static void *
listener(void *arg)
{
    struct listen l = {.out = arg};
    struct http h;

    http_init(&h);
    curl_easy_setopt(h.c, CURLOPT_WRITEFUNCTION, on_events);
    curl_easy_setopt(h.c, CURLOPT_WRITEDATA, &l);
    curl_easy_setopt(h.c, CURLOPT_TIMEOUT, 0L);
    curl_easy_setopt(h.c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(h.c, CURLOPT_XFERINFOFUNCTION, on_progress);
    /* Keep-alive comments every 15 s; a stream cut early is noted. */
    while (!stopping && now_s() < t_end) {
        long st = http_do(&h, "GET", "/v1/events?types=draft.ready", NULL, NULL);

        if (!stopping)
            note_bad(&other_bad, "event stream ended", st, NULL);
    }
    http_free(&h);
    return NULL;
}

/* ---- the dashboard ------------------------------------------------------------------------ */

static void *
reviewer(void *arg)
{
    int id = (int)(intptr_t)arg;
    struct http h;
    char body[512];
    /* Reviewers start spread over the 2 s period, not all at once. */
    double next = t_start + (double)id * FEED_EVERY_MS / 1000.0 / opt.reviewers;

    http_init(&h);
    for (unsigned turn = 0; !stopping; turn++) {
        json_t *doc, *items, *it;
        double t0;
        long st;
        size_t i;

        sleep_until(next);
        if (stopping || next >= t_end)
            break;
        next += FEED_EVERY_MS / 1000.0;
        t0 = now_s();
        st = http_do(&h, "GET", "/v1/feed?order=newest", NULL, NULL);
        sample_add(&feed_lat, (long)((now_s() - t0) * 1e6));
        if (st != 200) {
            note_bad(&feed_bad, "feed", st, h.body);
            continue;
        }
        doc = http_json(&h);
        items = json_object_get(doc, "items");
        json_array_foreach (items, i, it) {
            const char *draft = json_string_value(json_object_get(json_object_get(it, "draft"), "id"));
            char path[128];

            if (draft == NULL || (int)(i % (size_t)opt.reviewers) != id)
                continue;
            snprintf(path, sizeof(path), "/v1/drafts/%s/actions", draft);
            if ((turn + i) % 4 != 3)
                snprintf(body, sizeof(body), "{\"type\":\"approve\",\"userId\":\"%s\"}", opt.user);
            else
                snprintf(body, sizeof(body),
                         "{\"type\":\"edit\",\"userId\":\"%s\",\"finalText\":\"Hi, thanks for "
                         "waiting. Your order shipped today; tracking updates within a day. "
                         "Best, the team\"}",
                         opt.user);
            st = http_do(&h, "POST", path, body, NULL);
            if (st == 201)
                atomic_fetch_add(&actions, 1);
            else if (st == 409) /* superseded by a newer message meanwhile */
                atomic_fetch_add(&action_conflicts, 1);
            else
                note_bad(&other_bad, "action", st, h.body);
        }
        json_decref(doc);
    }
    http_free(&h);
    return NULL;
}

/* ---- main --------------------------------------------------------------------------------- */

static int
cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;

    return (x > y) - (x < y);
}

/* The p-quantile of s in ms (s sorted); -1 without samples. */
static double
pct_ms(const struct samples *s, double p)
{
    if (s->n == 0)
        return -1;
    return (double)s->v[(size_t)(p * (double)(s->n - 1) + 0.5)] / 1000.0;
}

static void
load_convs(const char *path)
{
    FILE *f = fopen(path, "r");
    char *line = NULL;
    size_t cap = 0, n = 0;

    if (f == NULL) {
        perror(path);
        exit(2);
    }
    while (getline(&line, &cap, f) > 0) {
        char *save = NULL, *fields[4];
        int k;

        line[strcspn(line, "\r\n")] = '\0';
        for (k = 0; k < 4; k++)
            if ((fields[k] = strtok_r(k == 0 ? line : NULL, "\t", &save)) == NULL)
                break;
        if (k < 4)
            continue;
        if (n % 1024 == 0 && (opt.convs = realloc(opt.convs, (n + 1024) * sizeof(*opt.convs))) == NULL)
            exit(1);
        opt.convs[n++] = (struct conv){strdup(fields[0]), strdup(fields[1]), strdup(fields[2]),
                                       strdup(fields[3])};
    }
    free(line);
    fclose(f);
    opt.nconvs = n;
    if (n == 0) {
        fprintf(stderr, "mixday: no conversations in %s\n", path);
        exit(2);
    }
}

int
main(int argc, char **argv)
{
    const char *convs = NULL;
    FILE *events_file = NULL;
    struct samples *all[] = {&feed_lat, &request_claim_lat, &outbox_claim_lat};
    pthread_t th[512];
    int nth = 0, c, nsenders;

    while ((c = getopt(argc, argv, "u:k:s:S:U:c:r:d:R:A:D:W:t:E:")) != -1) {
        switch (c) {
        case 'u': opt.url = optarg; break;
        case 'k': opt.key = optarg; break;
        case 's': opt.secret = optarg; break;
        case 'S': opt.source = optarg; break;
        case 'U': opt.user = optarg; break;
        case 'c': convs = optarg; break;
        case 'r': opt.rate = atof(optarg); break;
        case 'd': opt.seconds = atof(optarg); break;
        case 'R': opt.reviewers = atoi(optarg); break;
        case 'A': opt.assistants = atoi(optarg); break;
        case 'D': opt.deliverers = atoi(optarg); break;
        case 'W': opt.wait_s = atoi(optarg); break;
        case 't': opt.tag = optarg; break;
        case 'E': opt.events_out = optarg; break;
        default: return 2;
        }
    }
    if (!opt.url || !opt.key || !opt.secret || !opt.source || !opt.user || !convs || opt.rate <= 0 ||
        opt.seconds <= 0 || opt.reviewers < 1 || opt.assistants < 1 || opt.deliverers < 1 ||
        opt.wait_s < 0 || opt.wait_s > 30) {
        fprintf(stderr, "usage: mixday -u URL -k KEY -s SECRET -S SOURCE -U USER -c CONVS -r RATE "
                        "-d SECONDS [-R 20] [-A 4] [-D 2] [-W WAIT] [-t TAG]\n");
        return 2;
    }
    load_convs(convs);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    nsenders = (int)(opt.rate / 25) + 1;
    t_start = now_s() + 0.5;
    t_end = t_start + opt.seconds;
    for (int i = 0; i < nsenders && nth < 512; i++)
        pthread_create(&th[nth++], NULL, sender, (void *)(intptr_t)i);
    for (int i = 0; i < opt.assistants && nth < 512; i++)
        pthread_create(&th[nth++], NULL, assistant, (void *)(intptr_t)i);
    for (int i = 0; i < opt.deliverers && nth < 512; i++)
        pthread_create(&th[nth++], NULL, deliverer, (void *)(intptr_t)i);
    for (int i = 0; i < opt.reviewers && nth < 512; i++)
        pthread_create(&th[nth++], NULL, reviewer, (void *)(intptr_t)i);
    if (opt.events_out != NULL) {
        if ((events_file = fopen(opt.events_out, "w")) == NULL) {
            perror(opt.events_out);
            return 1;
        }
        pthread_create(&th[nth++], NULL, listener, events_file);
    }
    sleep_until(t_end);
    stopping = true;
    for (int i = 0; i < nth; i++)
        pthread_join(th[i], NULL);
    if (events_file != NULL)
        fclose(events_file);
    for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
        if (all[k]->n > 0)
            qsort(all[k]->v, all[k]->n, sizeof(*all[k]->v), cmp_long);
    printf("MIXRESULT rate=%.1f sent=%ld achieved=%.1f webhook_bad=%ld feed_reads=%zu "
           "feed_p50_ms=%.2f feed_p99_ms=%.2f feed_bad=%ld drafts=%ld actions=%ld "
           "action_conflicts=%ld delivered=%ld bad=%ld request_claim_p50_ms=%.1f "
           "request_claim_p99_ms=%.1f outbox_claim_p50_ms=%.1f outbox_claim_p99_ms=%.1f\n",
           opt.rate, (long)sent, (double)sent / opt.seconds, (long)webhook_bad, feed_lat.n,
           pct_ms(&feed_lat, 0.50), pct_ms(&feed_lat, 0.99), (long)feed_bad, (long)drafts,
           (long)actions, (long)action_conflicts, (long)delivered, (long)other_bad,
           pct_ms(&request_claim_lat, 0.50), pct_ms(&request_claim_lat, 0.99),
           pct_ms(&outbox_claim_lat, 0.50), pct_ms(&outbox_claim_lat, 0.99));
    curl_global_cleanup();
    return 0;
}
