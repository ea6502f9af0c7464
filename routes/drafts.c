/*
 * routes/drafts: drafts posted by the drafting worker and read by anyone
 * (API.md "Drafting"). Actions on drafts (POST/GET /v1/drafts/{id}/actions)
 * live in routes/actions.c.
 *
 * Parse, validate every field (topSources element by element, each error
 * naming its path, e.g. topSources[2].score), one db_drafts call, pass the
 * JSON that PostgreSQL rendered through with the draft's ETag. No SQL here.
 */
#include "inboxd/http/body.h"
#include "inboxd/db/drafts.h"
#include "inboxd/http/conditional.h"
#include "inboxd/http/input.h"
#include "inboxd/http/query.h"
#include "inboxd/routes/routes.h"
#include "inboxd/http/reply.h"
#include "inboxd/http/request.h"
#include "inboxd/lib/jsontext.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#define NAME_MAX_CHARS 200                  /* modelKey, promptVersion */
#define TEXT_MAX_CHARS ((size_t)512 * 1024) /* suggestedText, suggestedHtml */
#define URL_MAX_CHARS 4096                  /* topSources[i].url */
#define TITLE_MAX_CHARS 1000                /* topSources[i].title */

static const char *const create_fields[] = {"triggerMessageId", "draftRequestId", "modelKey",
                                             "promptVersion", "suggestedText", "suggestedHtml",
                                             "topSources", "attachments", NULL};

static const char *const draft_status_names[] = {"pending", "sent", "superseded", "archived", NULL};

/* Checks each element of topSources: an object with url (non-empty
 * string), title (string or null, present) and score (number). Adds one
 * field error per problem, named by its path. */
static void
check_sources(const json_t *arr, struct problem *pb)
{
    size_t i;
    json_t *el;

    json_array_foreach (arr, i, el) {
        char path[64];
        const char *s;
        const json_t *v;

        snprintf(path, sizeof(path), "topSources[%zu]", i);
        if (!json_is_object(el)) {
            problem_field(pb, path, "must be an object");
            continue;
        }
        snprintf(path, sizeof(path), "topSources[%zu].url", i);
        body_nonempty_string(el, path, BODY_REQUIRED, URL_MAX_CHARS, &s, pb);
        /* openapi.json: title is required but may be null. */
        snprintf(path, sizeof(path), "topSources[%zu].title", i);
        if (json_object_get(el, "title") == NULL)
            problem_field(pb, path, "is required");
        else
            body_string(el, path, BODY_OPTIONAL, TITLE_MAX_CHARS, &s, pb);
        snprintf(path, sizeof(path), "topSources[%zu].score", i);
        v = json_object_get(el, "score");
        if (v == NULL)
            problem_field(pb, path, "is required");
        else if (!body_is_number(v))
            problem_field(pb, path, "must be a number");
    }
}

static int
create_draft(struct req *rq, struct reply *out, struct problem *pb)
{
    struct attachment_in atts[MESSAGES_MAX_ATTACHMENTS];
    struct draft_in in = {.attachments = atts};
    struct draft_out res = {0};
    const json_t *sources = NULL;
    char *sources_text = NULL;
    json_t *o;
    int rc = -1;

    o = body_parse(rq->body, rq->body_len, pb);
    if (o == NULL)
        return -1;
    body_no_unknown(o, NULL, create_fields, pb);
    body_uuid(o, "triggerMessageId", BODY_REQUIRED, &in.trigger_message_id, pb);
    body_uuid(o, "draftRequestId", BODY_OPTIONAL, &in.draft_request_id, pb);
    body_nonempty_string(o, "modelKey", BODY_REQUIRED, NAME_MAX_CHARS, &in.model_key, pb);
    body_nonempty_string(o, "promptVersion", BODY_REQUIRED, NAME_MAX_CHARS, &in.prompt_version, pb);
    body_nonempty_string(o, "suggestedText", BODY_REQUIRED, TEXT_MAX_CHARS, &in.suggested_text, pb);
    body_string(o, "suggestedHtml", BODY_OPTIONAL, TEXT_MAX_CHARS, &in.suggested_html, pb);
    /* Elements first, so that an error inside one (a NUL in a url, say)
     * names its path; then the whole array's type and size. */
    {
        const json_t *raw = json_object_get(o, "topSources");
        int before = pb->nfields;

        if (json_is_array(raw))
            check_sources(raw, pb);
        if (pb->nfields == before)
            body_array(o, "topSources", BODY_OPTIONAL, BODY_JSON_MAX, &sources, pb);
    }
    /* As a message's: one reader, one set of limits. */
    input_attachments(o, "", atts, &in.nattachments, pb);
    if (body_failed(pb))
        goto out;
    if (sources != NULL) {
        sources_text = jsontext_dump(sources);
        if (sources_text == NULL) {
            problem_internal(pb, "drafts: topSources serialisation failed");
            goto out;
        }
        in.top_sources = sources_text;
    }
    if (db_drafts_insert(&rq->who, req_param(rq, "id"), &in, &res, pb) != 0)
        goto out;
    etag_format(res.etag, out->etag);
    reply_text(out, 201, res.json, res.len, "application/json");
    res.json = NULL;
    rc = 0;
out:
    free(sources_text);
    free(res.json);
    json_decref(o);
    return rc;
}

static int
list_drafts(struct req *rq, struct reply *out, struct problem *pb)
{
    struct draft_filter f = {0};
    struct page pg;
    char conv[37];
    char *json;
    size_t len;

    if (query_page(rq, true, &pg, pb) != 0 ||
        query_enum(rq, "status", draft_status_names, &f.status, pb) != 0 ||
        query_uuid(rq, "conversationId", conv, &f.conversation_id, pb) != 0)
        return -1;
    if (db_drafts_list(&rq->who, &f, &pg, &json, &len, pb) != 0)
        return -1;
    reply_text(out, 200, json, len, "application/json");
    return 0;
}

static int
get_draft(struct req *rq, struct reply *out, struct problem *pb)
{
    struct draft_out res = {0};

    if (db_drafts_get(&rq->who, req_param(rq, "id"), &res, pb) != 0)
        return -1;
    etag_format(res.etag, out->etag);
    reply_text(out, 200, res.json, res.len, "application/json");
    return 0;
}

const struct route routes_drafts[] = {
    {"POST", "/v1/conversations/{id}/drafts", SCOPE_DRAFTS_WRITE, 0, create_draft, NULL},
    {"GET", "/v1/drafts", SCOPE_READ, ROUTE_NO_BODY, list_drafts, NULL},
    {"GET", "/v1/drafts/{id}", SCOPE_READ, ROUTE_NO_BODY, get_draft, NULL},
    {NULL, NULL, 0, 0, NULL, NULL},
};
