/*
 * oas: checks responses against the OpenAPI 3.1 document compiled into the
 * binary (routes/openapi.json, embedded_find("openapi")), test-side only.
 *
 * The validator knows the subset of JSON Schema 2020-12 the document uses:
 * boolean schemas, local $ref (with sibling keywords), type (and type
 * arrays), enum, const, properties, required, additionalProperties,
 * min/maxProperties, items, min/maxItems, uniqueItems, allOf, anyOf, oneOf
 * (exactly one branch), not, if/then/else, OpenAPI discriminators,
 * minimum/maximum, min/maxLength (in characters), pattern (POSIX extended)
 * and format "uuid" and "date-time". Formats are checked with API.md's
 * strictness for outputs: a uuid is lower-case and hyphenated, a date-time
 * is UTC with milliseconds, "2026-11-22T10:04:05.123Z". Other formats are
 * annotations, as JSON Schema's default vocabulary has it.
 */
#ifndef INBOXD_TEST_OAS_H
#define INBOXD_TEST_OAS_H

#include <jansson.h>
#include <stddef.h>

/* Checks one response. route_pattern is the router's ("/v1/x/{id}"; a last
 * "{name...}" is the document's "{name}"), or NULL when no route matched: then
 * the body must be a problem document (404, 405). The response is found by
 * status, else "4XX"-style, else "default"; an undocumented status, an
 * undocumented content type, or a body that is not JSON where JSON is
 * documented fails. body is the parsed JSON body or NULL. For NDJSON the
 * caller checks each line as one body with that content type.
 * Returns 0, or -1 with a reason ("at $.items[0].id (schema #/...): ...")
 * in err. */
int oas_check(const char *method, const char *route_pattern, long status, const char *content_type,
              const json_t *body, char *err, size_t errlen);

/* Validates instance against schema; "$ref"s resolve in root. Returns 0, or
 * -1 with the reason in err. For the validator's own tests. */
int oas_validate(const json_t *root, const json_t *schema, const char *schema_path,
                 const json_t *instance, char *err, size_t errlen);

/* The embedded document, parsed once per process. Returns borrowed (lives as
 * long as the process), or NULL when it is missing or not JSON. */
const json_t *oas_document(void);

#endif
