/*
 * test_probe: `inboxd health`'s GET returns the status a real socket
 * answered, gives up at its deadline on a server that never answers, and
 * turns a wildcard listen address into one this host can reach.
 */
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "inboxd/http/probe.h"

struct server {
    int lfd;
    const char *answer; /* NULL: accept, read, never answer */
    char request[512];
    char addr[64];
    pthread_t th;
};

static void *
serve_one(void *arg)
{
    struct server *s = arg;
    int fd = accept(s->lfd, NULL, NULL);
    ssize_t n;

    if (fd < 0)
        return NULL;
    n = recv(fd, s->request, sizeof(s->request) - 1, 0);
    s->request[n > 0 ? n : 0] = '\0';
    if (s->answer != NULL) {
        if (send(fd, s->answer, strlen(s->answer), MSG_NOSIGNAL) < 0)
            perror("send");
    } else {
        char sink[64];

        /* Until the client gives up and closes. */
        while (recv(fd, sink, sizeof(sink), 0) > 0)
            ;
    }
    close(fd);
    return NULL;
}

/* A listening socket on a free loopback port, answering one request. */
static void
server_start(struct server *s, const char *answer)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);

    memset(s, 0, sizeof(*s));
    s->answer = answer;
    s->lfd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(s->lfd, 0);
    cr_assert_eq(bind(s->lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    cr_assert_eq(listen(s->lfd, 4), 0);
    cr_assert_eq(getsockname(s->lfd, (struct sockaddr *)&sa, &len), 0);
    snprintf(s->addr, sizeof(s->addr), "127.0.0.1:%d", ntohs(sa.sin_port));
    cr_assert_eq(pthread_create(&s->th, NULL, serve_one, s), 0);
}

static void
server_stop(struct server *s)
{
    pthread_join(s->th, NULL);
    close(s->lfd);
}

Test(probe, returns_the_status_the_server_answered)
{
    static const struct {
        const char *answer;
        int status;
    } cases[] = {
        {"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", 200},
        {"HTTP/1.0 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n", 503},
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct server s;
        char err[200] = "";
        int status = 0;

        server_start(&s, cases[i].answer);
        cr_assert_eq(probe_get(s.addr, "/readyz", 10000, &status, err, sizeof(err)), 0,
                     "case %zu: %s", i, err);
        server_stop(&s);
        cr_expect_eq(status, cases[i].status, "case %zu", i);
        cr_expect(strncmp(s.request, "GET /readyz HTTP/1.0\r\n", 22) == 0, "request: %s",
                  s.request);
    }
}

Test(probe, an_answer_that_is_not_http_is_an_error)
{
    struct server s;
    char err[200] = "";
    int status = 0;

    server_start(&s, "SSH-2.0-OpenSSH\r\n");
    cr_assert_eq(probe_get(s.addr, "/readyz", 10000, &status, err, sizeof(err)), -1);
    server_stop(&s);
    cr_expect(strstr(err, "did not answer HTTP") != NULL, "%s", err);
}

Test(probe, a_server_that_never_answers_is_given_up_at_the_deadline)
{
    struct server s;
    char err[200] = "";
    int status = 0;

    server_start(&s, NULL);
    cr_assert_eq(probe_get(s.addr, "/readyz", 200, &status, err, sizeof(err)), -1);
    server_stop(&s);
    cr_expect(strstr(err, "no answer") != NULL, "%s", err);
}

Test(probe, a_closed_port_is_an_error)
{
    struct server s;
    char addr[64], err[200] = "";
    int status = 0;

    /* A port that was free a moment ago and is closed now. */
    server_start(&s, "HTTP/1.1 200 OK\r\n\r\n");
    snprintf(addr, sizeof(addr), "%s", s.addr);
    cr_assert_eq(probe_get(addr, "/", 10000, &status, err, sizeof(err)), 0, "%s", err);
    server_stop(&s);
    cr_assert_eq(probe_get(addr, "/readyz", 10000, &status, err, sizeof(err)), -1);
    cr_expect(strstr(err, "cannot connect") != NULL, "%s", err);
}

Test(probe, a_wildcard_listen_address_becomes_loopback)
{
    static const struct {
        const char *listen, *want;
    } cases[] = {
        {"0.0.0.0:8080", "127.0.0.1:8080"},
        {":8080", "127.0.0.1:8080"},
        {"*:8080", "127.0.0.1:8080"},
        {"[::]:8080", "[::1]:8080"},
        {"127.0.0.1:9000", "127.0.0.1:9000"},
        {"10.1.2.3:80", "10.1.2.3:80"},
        {"[::1]:8080", "[::1]:8080"},
        {"localhost:8080", "localhost:8080"},
    };
    char out[64];

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        cr_assert_eq(probe_local_addr(cases[i].listen, out, sizeof(out)), 0, "%s",
                     cases[i].listen);
        cr_expect_str_eq(out, cases[i].want, "%s", cases[i].listen);
    }
    cr_expect_eq(probe_local_addr("no-port", out, sizeof(out)), -1);
    cr_expect_eq(probe_local_addr("0.0.0.0:8080", out, 8), -1);
}
