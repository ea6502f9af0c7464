/*
 * problem_types: the table of problem types (see problem_types.h). Text
 * only: no HTTP here; routes/problems.c renders a row as a page.
 */
#include "inboxd/lib/problem_types.h"

#include <stddef.h>
#include <string.h>

const struct problem_type problem_types[] = {
    {"invalid-json", 400, "The request body is not JSON: empty, not UTF-8, malformed, a duplicate "
                          "member name, a number out of range or nested too deeply.",
     "Send one JSON object encoded as UTF-8; the detail gives the line and column."},
    {"not-an-object", 400, "The request body is valid JSON but not an object.",
     "Send a JSON object ({...}) as the body."},
    {"invalid-parameter", 400, "A query parameter is malformed: an unknown enum value, a bad id, "
                               "timestamp or limit, a NUL character, or a missing required one.",
     "Fix the parameter that `errors` names; parameters are never silently ignored."},
    {"invalid-cursor", 400, "The pagination cursor is not one this list issued.",
     "Pass `nextCursor` from the previous page unchanged, or start again without a cursor."},
    {"invalid-header", 400, "A request header is not in the form the contract gives (If-Match, "
                            "Idempotency-Key), is sent twice, or frames the body two ways "
                            "(Content-Length with Transfer-Encoding).",
     "Fix the header the detail names; the connection is closed after a framing error."},
    {"invalid-path", 400, "A value in the path is not acceptable (a webhook source or topic key), "
                          "or the path holds an encoded NUL (%00) or an encoded '/' (%2F).",
     "Use the form the detail gives."},
    {"unauthorized", 401, "No API key, an unknown key or a revoked key.",
     "Send `Authorization: Bearer <api key>` with a key that is valid."},
    {"client-certificate-refused", 401, "The TLS client certificate is no longer acceptable: "
                                        "expired, or not signed by tls_client_ca.",
     "Connect again with a valid certificate that the configured client CA signed."},
    {"invalid-signature", 401, "A webhook delivery's signature or timestamp did not verify.",
     "Sign the timestamp, a dot and the raw body with the source's secret, and send the current "
     "time; see the README, \"Signing webhook deliveries\"."},
    {"forbidden", 403, "The API key lacks the scope this operation needs.",
     "Use a key with the scope the detail names (x-scope in the OpenAPI document)."},
    {"not-found", 404, "No such resource in the caller's account (another account's rows are "
                       "not found either), or no such path.",
     "Check the id and the key's account."},
    {"method-not-allowed", 405, "The path exists but not with this method.",
     "Use one of the methods the `Allow` header lists."},
    {"conflict", 409, "The request conflicts with the current state of a resource (a unique key "
                      "with other content, a draft changed meanwhile).",
     "Read the resource again and decide; a retry of the same request may succeed."},
    {"conversation-deleted", 409, "A deleted conversation of this channel holds this externalId.",
     "Use another externalId; the deleted conversation is kept until retention removes it."},
    {"draft-exists", 409, "The trigger message already has a draft (one draft per message).",
     "Read the existing draft instead of posting another."},
    {"draft-not-pending", 409, "The draft is no longer pending: someone acted on it already.",
     "Reload the draft; only a pending draft takes an action."},
    {"draft-request-not-leased", 409, "The draft request is not leased (by anyone) any more.",
     "Claim work again; a lease that expired may have gone to another worker."},
    {"message-not-leased", 409, "The outbound message is not leased any more.",
     "Claim the outbox again; a lease that expired may have gone to another worker."},
    {"external-id-conflict", 409, "Another message of the conversation has this externalId.",
     "Report the provider's id of this message, not another's."},
    {"invalid-transition", 409, "The job run cannot move to that status from the one it is in "
                                "(only queued, running, then succeeded or failed).",
     "Read the job run and send the next status."},
    {"idempotency-in-flight", 409, "A request with this Idempotency-Key is still being processed.",
     "Retry after `Retry-After` seconds to get its answer."},
    {"webhook-event-processed", 409, "The webhook event is already processed; only failed or "
                                     "received events are replayed.",
     "Nothing to do; read the event for its result."},
    {"webhook-event-failed", 409, "This delivery was seen before and stored as failed.",
     "Fix the data and replay the event (POST /v1/webhooks/events/{id}/replay)."},
    {"precondition-failed", 412, "If-Match did not match the resource's current version.",
     "GET the resource for its current ETag, apply the change again, and resend."},
    {"body-too-large", 413, "The request body is over the configured limit (1 MiB by default).",
     "Send a smaller body."},
    {"unsupported-media-type", 415, "The request body is not application/json.",
     "Send `Content-Type: application/json`."},
    {"validation", 422, "The body is well-formed JSON that failed validation: a missing field, "
                        "a wrong type, a bad enum, a text with a NUL character, too long, or an "
                        "unknown field.",
     "Fix every field `errors` lists; each entry has the field's path and what is wrong."},
    {"invalid-reference", 422, "A referenced resource does not exist in the caller's account.",
     "Use an id of the account; `errors` names the field."},
    {"invalid-value", 422, "A value was refused by the database's own checks.",
     "Fix the field `errors` names."},
    {"idempotency-key-reused", 422, "This Idempotency-Key was used with another request (method, "
                                    "path or body).",
     "Use a new key for a new request; reuse a key only to retry the very same request."},
    {"internal", 500, "inboxd failed unexpectedly; details are in its log, never in the answer.",
     "Retry later; report the `instance` (the request id) to the operators."},
    {"database-unavailable", 503, "The database is not reachable.",
     "Retry after `Retry-After` seconds."},
    {"database-busy", 503, "The database is busy: a statement or lock wait timed out.",
     "Retry after `Retry-After` seconds."},
    {"contention", 503, "The request met concurrent updates and was not applied.",
     "Retry after `Retry-After` seconds."},
    {"pool-exhausted", 503, "Every database connection stayed busy past the wait limit.",
     "Retry after `Retry-After` seconds."},
    {"streams-busy", 503, "Too many streamed exports are running at once.",
     "Retry after `Retry-After` seconds."},
    {"source-unavailable", 503, "The webhook source's account is not available now.",
     "Retry the delivery later."},
    /* The live event stream (routes/events.c). */
    {"stopping", 503, "This inboxd instance is stopping; it takes no new event streams.",
     "Reconnect (another instance answers behind a balancer), with Last-Event-ID."},
    {"not-implemented", 501, "The request uses a transfer coding inboxd does not support (only "
                             "chunked is).",
     "Send the body with Content-Length, or with Transfer-Encoding: chunked alone."},
    {NULL, 0, NULL, NULL},
};

const struct problem_type *
problem_type_find(const char *slug)
{
    for (const struct problem_type *t = problem_types; t->slug != NULL; t++)
        if (strcmp(t->slug, slug) == 0)
            return t;
    return NULL;
}
