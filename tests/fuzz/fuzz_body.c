/*
 * fuzz_body: a request body through body_parse() and every reader of
 * body.h and input.h, as a route would read it, then the problem document
 * the caller would get. Bytes that are not a JSON object are a 400;
 * an object read field by field is fine or a 422 (500 only for OOM); and
 * the rendered problem is valid JSON. Values the readers hand out must
 * hold what their contract says (a UUID, a timestamp in range, ...).
 */
#include "fuzz.h"

#include <jansson.h>
#include <limits.h>
#include <stdbool.h>

#include "inboxd/http/body.h"
#include "inboxd/http/input.h"
#include "inboxd/lib/jsontext.h"
#include "inboxd/lib/problem.h"
#include "inboxd/lib/rfc3339.h"
#include "inboxd/lib/utf8.h"
#include "inboxd/lib/uuid7.h"

static const char *const kinds[] = {"approve", "edit", "reject", NULL};
static const char *const known[] = {"text",  "name",     "kind",     "n",          "min",
                                    "max",   "flag",     "id",       "at",         "metadata",
                                    "topSources", "message", "email", "externalId", "subject",
                                    "bodyText",   "bodyHtml", "sentAt", "attachments",
                                    "embeddingsJson", NULL};
static const char *const known_message[] = {"externalId", "subject",  "bodyText",   "bodyHtml",
                                            "sentAt",     "metadata", "attachments", NULL};

static void
check_problem(const struct problem *pb)
{
    char *doc = problem_render(pb, "fuzz-request");
    json_t *back;

    FUZZ_CHECK(doc != NULL);
    back = json_loads(doc, 0, NULL);
    FUZZ_CHECK(back != NULL && json_is_object(back));
    FUZZ_CHECK(json_integer_value(json_object_get(back, "status")) == pb->status);
    json_decref(back);
    free(doc);
}

static void
check_message(const struct message_in *in, const char *sent)
{
    int64_t us;

    FUZZ_CHECK(in->nattachments <= MESSAGES_MAX_ATTACHMENTS);
    if (in->sent_at != NULL) {
        FUZZ_CHECK(in->sent_at == sent);
        FUZZ_CHECK(rfc3339_parse(sent, &us) == 0);
    }
    if (in->external_id != NULL)
        FUZZ_CHECK(utf8_chars(in->external_id, strlen(in->external_id)) <= INPUT_EXTERNAL_ID_MAX);
    if (in->body_text != NULL)
        FUZZ_CHECK(utf8_chars(in->body_text, strlen(in->body_text)) <= INPUT_TEXT_MAX);
}

/* Every reader once, the way a route reads a body; returns whether any
 * failed. */
static bool
read_all(const json_t *o, struct problem *pb)
{
    const char *text = NULL, *name = NULL, *id = NULL, *email = NULL;
    const json_t *meta = NULL, *top = NULL, *msg = NULL, *any = NULL;
    long long n = 50, lo = 0, hi = 0;
    bool flag = false, has_n = false, has_at = false;
    int64_t at = 0;
    int kind = -1;
    static struct message_in in, top_in; /* 3 KB each: not on the stack */
    char sent[RFC3339_BUFLEN], top_sent[RFC3339_BUFLEN];

    memset(&in, 0, sizeof(in));
    memset(&top_in, 0, sizeof(top_in));
    body_string(o, "text", BODY_OPTIONAL, 16, &text, pb);
    body_nonempty_string(o, "name", BODY_OPTIONAL, SIZE_MAX, &name, pb);
    body_enum(o, "kind", BODY_OPTIONAL, kinds, &kind, pb);
    body_int(o, "n", BODY_OPTIONAL, 1, 200, &n, &has_n, pb);
    body_int(o, "min", BODY_OPTIONAL, LLONG_MIN, 0, &lo, NULL, pb);
    body_int(o, "max", BODY_OPTIONAL, 0, LLONG_MAX, &hi, NULL, pb);
    body_bool(o, "flag", BODY_OPTIONAL, &flag, NULL, pb);
    body_uuid(o, "id", BODY_OPTIONAL, &id, pb);
    body_timestamp(o, "at", BODY_OPTIONAL, &at, &has_at, pb);
    body_object(o, "metadata", BODY_OPTIONAL, 256, &meta, pb);
    body_array(o, "topSources", BODY_OPTIONAL, BODY_JSON_MAX, &top, pb);
    body_value(o, "embeddingsJson", BODY_OPTIONAL, 256, &any, pb);
    body_nested(o, "message", BODY_OPTIONAL, &msg, pb);
    input_message(msg, "message.", true, &in, sent, pb);
    input_message(o, "", false, &top_in, top_sent, pb);
    input_email(o, "email", BODY_OPTIONAL, INPUT_EMAIL_MAX, &email, pb);
    body_no_unknown(o, NULL, known, pb);
    body_no_unknown(msg, "message", known_message, pb);

    if (text != NULL)
        FUZZ_CHECK(utf8_chars(text, strlen(text)) <= 16); /* limits count characters */
    if (name != NULL)
        FUZZ_CHECK(name[0] != '\0');
    FUZZ_CHECK(kind >= -1 && kind <= 2);
    FUZZ_CHECK(n >= 1 && n <= 200);
    FUZZ_CHECK(lo <= 0 && hi >= 0);
    if (id != NULL)
        FUZZ_CHECK(uuid7_is_valid(id));
    if (has_at)
        FUZZ_CHECK(at >= RFC3339_MIN_USEC && at <= RFC3339_MAX_USEC);
    if (meta != NULL) {
        char *dumped = jsontext_dump(meta);

        FUZZ_CHECK(json_is_object(meta));
        /* What PostgreSQL would get: the caller's numbers, never a wrapped
         * one (a string that starts with a NUL, which the encoder writes
         * as a quote and "\u0000"), and within the limit. */
        FUZZ_CHECK(dumped == NULL ||
                   (strstr(dumped, "\"\\u0000") == NULL && strlen(dumped) <= 256));
        free(dumped);
    }
    if (top != NULL)
        FUZZ_CHECK(json_is_array(top));
    if (any != NULL)
        FUZZ_CHECK(!json_is_null(any));
    if (email != NULL)
        FUZZ_CHECK(input_is_email(email));
    check_message(&in, sent);
    check_message(&top_in, top_sent);
    return body_failed(pb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct problem pb;
    json_t *o;

    problem_init(&pb);
    o = body_parse((const char *)data, size, &pb);
    if (o == NULL) {
        /* 422 for text the contract refuses by field (a NUL in a name). */
        FUZZ_CHECK(pb.status == 400 || pb.status == 422 || pb.status == 500);
        FUZZ_CHECK(pb.status != 422 || pb.nfields > 0);
        check_problem(&pb);
        return 0;
    }
    FUZZ_CHECK(json_is_object(o) && pb.status == 0);
    if (read_all(o, &pb)) {
        FUZZ_CHECK(pb.status == 422 || pb.status == 500);
        check_problem(&pb);
    } else {
        FUZZ_CHECK(pb.nfields == 0);
    }
    json_decref(o);
    return 0;
}
