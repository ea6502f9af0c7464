/*
 * fuzz_query: the query-string readers of query.h, on query strings as
 * libmicrohttpd decodes them.
 *
 * The readers take a struct req and look parameters up on its MHD
 * connection, so the harness runs a libmicrohttpd daemon of its own, with
 * no listening socket and no thread: each input becomes the query of one
 * "GET /q?<input> HTTP/1.1" request written into a socketpair that
 * MHD_add_connection() hands the daemon, and MHD_run() is called in this
 * thread until the answer is read. Bytes that cannot stand in a request
 * line (controls, space, DEL) are sent %-encoded, so they still reach the
 * readers after MHD decodes them. The handler runs every reader, checks
 * what they hand out, and answers 200 or the problem's status.
 */
#include "fuzz.h"

#include <errno.h>
#include <microhttpd.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "inboxd/http/query.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/utf8.h"
#include "inboxd/lib/uuid7.h"

static struct MHD_Daemon *d;
static const char *const statuses[] = {"queued", "claimed", "done", "failed", NULL};

static void
check_page(const struct page *pg, bool with_ts)
{
    int64_t us;

    FUZZ_CHECK(pg->limit >= 1 && pg->limit <= 200);
    FUZZ_CHECK(atoi(pg->fetch) == pg->limit + 1);
    if (pg->after_id != NULL)
        FUZZ_CHECK(uuid7_is_valid(pg->after_id));
    if (pg->after_ts != NULL) {
        FUZZ_CHECK(with_ts);
        FUZZ_CHECK(rfc3339_parse(pg->after_ts, &us) == 0);
    }
}

/* Every reader of query.h over the request's parameters; 0 or a status. */
static int
read_all(const struct req *rq)
{
    struct problem pb;
    struct page pg;
    char uuid_buf[37], ts_buf[32];
    const char *id = NULL, *status = NULL, *since = NULL, *q = NULL;
    bool deleted = false, present = false;
    int64_t us;
    int failed = 0;

    for (int with_ts = 0; with_ts < 2; with_ts++) {
        problem_init(&pb);
        if (query_page(rq, with_ts, &pg, &pb) == 0) {
            check_page(&pg, with_ts);
        } else {
            FUZZ_CHECK(pb.status == 400);
            failed = 400;
        }
    }
    problem_init(&pb);
    if (query_uuid(rq, "id", uuid_buf, &id, &pb) == 0 && id != NULL) {
        FUZZ_CHECK(id == uuid_buf && uuid7_is_valid(id));
        for (const char *p = id; *p; p++)
            FUZZ_CHECK(!(*p >= 'A' && *p <= 'F'));
    }
    if (query_enum(rq, "status", statuses, &status, &pb) == 0 && status != NULL)
        FUZZ_CHECK(strcmp(status, "queued") == 0 || strcmp(status, "claimed") == 0 ||
                   strcmp(status, "done") == 0 || strcmp(status, "failed") == 0);
    if (query_timestamp(rq, "since", ts_buf, &since, &pb) == 0 && since != NULL)
        FUZZ_CHECK(rfc3339_parse(since, &us) == 0);
    if (query_bool(rq, "deleted", &deleted, &present, &pb) == 0)
        FUZZ_CHECK(present || !deleted);
    if (query_text(rq, "q", 200, &q, &pb) == 0 && q != NULL)
        FUZZ_CHECK(utf8_valid(q, strlen(q)) && utf8_chars(q, strlen(q)) <= 200); /* characters */
    if (pb.status != 0) {
        FUZZ_CHECK(pb.status == 400);
        failed = 400;
    }
    return failed;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_size, void **con_cls)
{
    static int first;
    static struct req rq; /* only conn is read by req_query() */
    struct MHD_Response *res;
    enum MHD_Result rc;
    int status;

    (void)cls;
    (void)url;
    (void)method;
    (void)version;
    (void)upload_data;
    if (*con_cls == NULL) {
        *con_cls = &first;
        return MHD_YES;
    }
    if (*upload_size > 0) {
        *upload_size = 0;
        return MHD_YES;
    }
    rq.conn = conn;
    status = read_all(&rq);
    res = MHD_create_response_from_buffer(2, (void *)(uintptr_t) "ok", MHD_RESPMEM_PERSISTENT);
    FUZZ_CHECK(res != NULL);
    rc = MHD_queue_response(conn, status ? (unsigned)status : 200u, res);
    MHD_destroy_response(res);
    return rc;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    d = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, on_request, NULL,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)(64 * 1024), MHD_OPTION_END);
    FUZZ_CHECK(d != NULL);
    return 0;
}

/* The request line with the input as query, %-encoding what may not
 * stand in it. Returns a new string. */
static char *
request_of(const uint8_t *data, size_t size, size_t *len)
{
    static const char head[] = "GET /q?", tail[] = " HTTP/1.1\r\nHost: fuzz\r\n\r\n";
    char *r = malloc(sizeof(head) + size * 3 + sizeof(tail));
    size_t n = 0;

    FUZZ_CHECK(r != NULL);
    memcpy(r, head, sizeof(head) - 1);
    n = sizeof(head) - 1;
    for (size_t i = 0; i < size; i++) {
        if (data[i] <= 0x20 || data[i] == 0x7f)
            n += (size_t)sprintf(r + n, "%%%02X", data[i]);
        else
            r[n++] = (char)data[i];
    }
    memcpy(r + n, tail, sizeof(tail));
    *len = n + sizeof(tail) - 1;
    return r;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_un peer = {.sun_family = AF_UNIX};
    size_t len, sent = 0;
    char *req = request_of(data, size, &len);
    char buf[4096];
    int sv[2];

    FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == 0);
    FUZZ_CHECK(MHD_add_connection(d, sv[0], (const struct sockaddr *)&peer, sizeof(peer)) ==
               MHD_YES);
    /* Written as the daemon reads: a long request fills the socket buffer. */
    for (int rounds = 0;; rounds++) {
        ssize_t n;

        FUZZ_CHECK(rounds < 100000); /* a request that never ends is a hang */
        if (sent < len) {
            n = send(sv[1], req + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (n < 0 && errno != EAGAIN)
                sent = len; /* the daemon closed early: read its answer */
            if (sent == len)
                shutdown(sv[1], SHUT_WR);
        }
        FUZZ_CHECK(MHD_run(d) == MHD_YES);
        /* MHD_run() never blocks: each round moves the exchange on. */
        n = read(sv[1], buf, sizeof(buf));
        if (n == 0 || (n < 0 && errno != EAGAIN))
            break;
    }
    close(sv[1]);
    free(req);
    return 0;
}
