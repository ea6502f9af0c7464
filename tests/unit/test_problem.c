/* problem: rendering of RFC 9457 documents. */
#include "inboxd/lib/problem.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

static json_t *
render(const struct problem *pb, const char *instance)
{
    char *text = problem_render(pb, instance);
    json_t *doc;

    cr_assert_not_null(text);
    doc = json_loads(text, 0, NULL);
    free(text);
    cr_assert_not_null(doc);
    return doc;
}

Test(problem, set_fills_status_type_and_detail_and_returns_minus_one)
{
    struct problem pb = {0};

    cr_assert_eq(problem_set(&pb, 409, "draft-not-pending", "draft is %s", "sent"), -1);
    cr_assert_eq(pb.status, 409);
    cr_assert_str_eq(pb.type, "draft-not-pending");
    cr_assert_str_eq(pb.detail, "draft is sent");
}

Test(problem, rendered_document_has_every_member)
{
    struct problem pb = {0};
    json_t *doc;

    problem_set(&pb, 404, "not-found", "no such draft");
    doc = render(&pb, "req-1");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "/problems/not-found");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "title")), "Not Found");
    cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 404);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "detail")), "no such draft");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "instance")), "req-1");
    cr_assert_null(json_object_get(doc, "errors"));
    json_decref(doc);
}

Test(problem, field_errors_make_a_422_with_an_errors_list)
{
    struct problem pb = {0};
    json_t *doc, *errs;

    cr_assert_eq(problem_field(&pb, "finalText", "required for edit"), -1);
    problem_field(&pb, "type", "must be one of approve, edit, reject");
    cr_assert_eq(pb.status, 422);
    doc = render(&pb, NULL);
    errs = json_object_get(doc, "errors");
    cr_assert_eq(json_array_size(errs), 2);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(errs, 0), "field")),
                     "finalText");
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(errs, 1), "message")),
                     "must be one of approve, edit, reject");
    json_decref(doc);
}

Test(problem, field_error_keeps_an_earlier_400)
{
    struct problem pb = {0};

    problem_set(&pb, 400, "invalid-parameter", "query parameter limit: bad");
    problem_field(&pb, "limit", "bad");
    cr_assert_eq(pb.status, 400);
    cr_assert_eq(pb.nfields, 1);
}

Test(problem, internal_text_never_reaches_the_document)
{
    struct problem pb = {0};
    char *text;

    problem_internal(&pb, "SELECT secret FROM x: relation does not exist");
    text = problem_render(&pb, "r");
    cr_assert_not_null(text);
    cr_assert_null(strstr(text, "SELECT"));
    cr_assert_null(strstr(text, "relation"));
    cr_assert_eq(pb.status, 500);
    free(text);
}

Test(problem, too_many_field_errors_are_capped)
{
    struct problem pb = {0};

    for (int i = 0; i < PROBLEM_MAX_FIELDS + 5; i++)
        problem_field(&pb, "f", "bad %d", i);
    cr_assert_eq(pb.nfields, PROBLEM_MAX_FIELDS);
}

Test(problem, titles_of_the_contract_statuses)
{
    static const struct {
        int status;
        const char *title;
    } cases[] = {{400, "Bad Request"},       {401, "Unauthorized"},
                 {403, "Forbidden"},         {405, "Method Not Allowed"},
                 {412, "Precondition Failed"}, {413, "Content Too Large"},
                 {415, "Unsupported Media Type"}, {422, "Unprocessable Content"},
                 {503, "Service Unavailable"}};

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        cr_assert_str_eq(problem_title(cases[i].status), cases[i].title, "status %d",
                         cases[i].status);
}

/* A 405 echoes the method, which need not be UTF-8; the document must
 * still render, with its own status (found by fuzz_http: the answer was
 * a 405 whose body was the fixed 500 document). */
Test(problem, detail_that_is_not_utf8_renders_with_the_title)
{
    struct problem pb = {0};
    json_t *doc;

    problem_set(&pb, 405, "method-not-allowed", "%s is not allowed on this resource", "G\xffT");
    doc = render(&pb, "req-1");
    cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 405);
    cr_assert_str_eq(json_string_value(json_object_get(doc, "type")), "/problems/method-not-allowed");
    cr_assert_str_eq(json_string_value(json_object_get(doc, "detail")), "Method Not Allowed");
    json_decref(doc);
}

/* The detail buffer cuts a long UTF-8 text inside a character. */
Test(problem, detail_cut_inside_a_character_still_renders)
{
    struct problem pb = {0};
    char method[400];
    json_t *doc;

    memset(method, 0, sizeof(method));
    for (size_t i = 0; i + 2 < sizeof(method); i += 2)
        memcpy(method + i, "\xc3\xa9", 2);
    /* 255 bytes of "é" end in the first byte of one. */
    problem_set(&pb, 405, "method-not-allowed", "%s", method);
    doc = render(&pb, NULL);
    cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 405);
    json_decref(doc);
}

Test(problem, field_error_that_is_not_utf8_still_renders)
{
    struct problem pb = {0};
    json_t *doc, *e;

    problem_field(&pb, "name\xc3", "bad \xe2\x82");
    doc = render(&pb, NULL);
    cr_assert_eq(json_integer_value(json_object_get(doc, "status")), 422);
    e = json_array_get(json_object_get(doc, "errors"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(e, "field")), "");
    cr_assert_str_eq(json_string_value(json_object_get(e, "message")), "is not valid");
    json_decref(doc);
}
