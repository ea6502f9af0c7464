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
