/*
 * test_log: every line is one JSON object with ts, level and event, the
 * bound request context and typed fields, escaped; lines below the level
 * are not written. stderr goes to a file for the test (criterion runs
 * each test in a process of its own).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "inboxd/lib/log.h"

static FILE *out;
static int saved = -1;

static void
capture(void)
{
    out = tmpfile();
    cr_assert_not_null(out);
    fflush(stderr);
    saved = dup(2);
    cr_assert_geq(dup2(fileno(out), 2), 0);
}

/* The lines written since capture(), as JSON objects; *n set. */
static json_t *
lines(size_t *n)
{
    char buf[8192];
    json_t *all = json_array();

    dup2(saved, 2);
    rewind(out);
    while (fgets(buf, sizeof(buf), out) != NULL) {
        json_error_t e;
        json_t *o = json_loads(buf, 0, &e);

        cr_assert_not_null(o, "not one JSON object: %s (%s)", buf, e.text);
        cr_assert(json_is_object(o));
        json_array_append_new(all, o);
    }
    *n = json_array_size(all);
    return all;
}

Test(log, a_line_is_one_json_object_with_its_fields_escaped)
{
    struct log_ctx ctx = {.request_id = "req-1", .trace_id = NULL, .route = "GET /v1/x"};
    size_t n;
    json_t *all, *o;

    log_set_level("info");
    capture();
    log_event(LOG_WARN, &ctx, "db.test", LOG_S("err", "a \"quoted\"\nline\\"), LOG_I("n", -42),
              LOG_F("ms", 1.5), LOG_S("none", NULL));
    all = lines(&n);
    cr_assert_eq(n, 1);
    o = json_array_get(all, 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "warn");
    cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "db.test");
    cr_assert_str_eq(json_string_value(json_object_get(o, "request_id")), "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(o, "route")), "GET /v1/x");
    cr_assert_str_eq(json_string_value(json_object_get(o, "err")), "a \"quoted\"\nline\\");
    cr_assert_eq(json_integer_value(json_object_get(o, "n")), -42);
    cr_assert_float_eq(json_number_value(json_object_get(o, "ms")), 1.5, 1e-9);
    cr_assert(json_is_string(json_object_get(o, "ts")));
    json_decref(all);
}

/* A client's bytes that are not UTF-8 (a method) and a value longer than
 * a line: the line is still one JSON object. */
Test(log, bytes_that_are_not_utf8_and_long_values_keep_the_line_json)
{
    static char big[6000];
    size_t n;
    json_t *all, *o;

    memset(big, 'x', sizeof(big) - 1);
    log_set_level("info");
    capture();
    log_event(LOG_INFO, NULL, "http.request", LOG_S("method", "G\xffT"),
              LOG_S("name", "caf\xc3\xa9 \xe2\x82"), LOG_I("status", 405));
    log_event(LOG_INFO, NULL, "http.request", LOG_I("status", 200), LOG_S("big", big),
              LOG_I("after", 1));
    all = lines(&n);
    cr_assert_eq(n, 2);
    o = json_array_get(all, 0);
    cr_assert_str_eq(json_string_value(json_object_get(o, "method")), "G\xef\xbf\xbdT");
    cr_assert_str_eq(json_string_value(json_object_get(o, "name")),
                     "caf\xc3\xa9 \xef\xbf\xbd\xef\xbf\xbd");
    o = json_array_get(all, 1);
    cr_assert_eq(json_integer_value(json_object_get(o, "status")), 200);
    cr_assert_null(json_object_get(o, "big"), "the field that does not fit is dropped whole");
    cr_assert(json_is_true(json_object_get(o, "truncated")));
    json_decref(all);
}

Test(log, lines_below_the_level_are_not_written)
{
    size_t n;
    json_t *all;

    log_set_level("warn");
    cr_assert(!log_enabled(LOG_INFO));
    capture();
    log_plain(LOG_INFO, NULL, "quiet");
    log_plain(LOG_ERROR, NULL, "loud");
    all = lines(&n);
    cr_assert_eq(n, 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 0), "event")), "loud");
    json_decref(all);
}

Test(log, a_bound_context_goes_on_every_line_of_its_thread)
{
    struct log_ctx ctx = {.request_id = "req-bound", .trace_id = "0af7651916cd43dd8448eb211c80319c"};
    size_t n;
    json_t *all;

    log_set_level("info");
    capture();
    log_bind(&ctx);
    log_plain(LOG_INFO, NULL, "bound");
    log_bind(NULL);
    log_plain(LOG_INFO, NULL, "unbound");
    all = lines(&n);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(
        json_string_value(json_object_get(json_array_get(all, 0), "request_id")), "req-bound");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(all, 0), "trace_id")),
                     "0af7651916cd43dd8448eb211c80319c");
    cr_assert_null(json_object_get(json_array_get(all, 1), "request_id"));
    json_decref(all);
}
