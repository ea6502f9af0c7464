/*
 * test_oas: the response validator of the harness (oas.c) must
 * fail when it should, or checking every response proves nothing. Tiny
 * inline schemas, table-driven; a few oas_check cases against the embedded
 * document, and the document's x-scope and security against the route
 * tables. No server, no database.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <string.h>

#include "inboxd/http/router.h"
#include "inboxd/routes/routes.h"
#include "oas.h"

struct vcase {
    const char *schema;   /* JSON; "$ref"s resolve in a root of {"$defs": ...} */
    const char *instance; /* JSON */
    bool valid;
    const char *reason; /* a substring of the error when invalid */
};

static const char defs[] =
    "{\"$defs\": {"
    "\"Id\": {\"type\": \"string\", \"format\": \"uuid\"},"
    "\"Cat\": {\"type\": \"object\", \"required\": [\"kind\", \"lives\"],"
    "  \"properties\": {\"kind\": {\"const\": \"cat\"}, \"lives\": {\"type\": \"integer\"}}},"
    "\"Dog\": {\"type\": \"object\", \"required\": [\"kind\", \"bark\"],"
    "  \"properties\": {\"kind\": {\"const\": \"dog\"}, \"bark\": {\"type\": \"boolean\"}}}"
    "}}";

static const struct vcase vcases[] = {
    /* type */
    {"{\"type\":\"string\"}", "\"x\"", true, NULL},
    {"{\"type\":\"string\"}", "1", false, "integer where string is expected"},
    {"{\"type\":[\"string\",\"null\"]}", "null", true, NULL},
    {"{\"type\":[\"string\",\"null\"]}", "true", false, "string or null"},
    {"{\"type\":\"integer\"}", "2.0", true, NULL},
    {"{\"type\":\"integer\"}", "2.5", false, "number where integer"},
    {"{\"type\":\"number\"}", "2", true, NULL},
    /* objects */
    {"{\"type\":\"object\",\"required\":[\"a\"]}", "{}", false, "\"a\" is missing"},
    {"{\"properties\":{\"a\":{\"type\":\"string\"}}}", "{\"a\":1}", false, "at $.a "},
    {"{\"properties\":{\"a\":{}},\"additionalProperties\":false}", "{\"a\":1,\"b\":2}", false,
     "\"b\" is not allowed"},
    {"{\"properties\":{\"a\":{}}}", "{\"a\":1,\"b\":2}", true, NULL},
    {"{\"additionalProperties\":{\"type\":\"integer\"}}", "{\"b\":\"x\"}", false, "at $.b "},
    {"{\"minProperties\":1}", "{}", false, "fewer than 1"},
    /* arrays */
    {"{\"items\":{\"type\":\"integer\"}}", "[1,\"x\"]", false, "at $[1] "},
    {"{\"properties\":{\"a\":{\"items\":{\"$ref\":\"#/$defs/Id\"}}}}",
     "{\"a\":[\"0190a4c2-1c3b-7def-8abc-0123456789ab\",\"nope\"]}", false,
     "at $.a[1] (schema "
     "#/$defs/Id)"},
    {"{\"uniqueItems\":true}", "[1,2,1]", false, "items 0 and 2"},
    /* $ref */
    {"{\"$ref\":\"#/$defs/Id\"}", "\"0190a4c2-1c3b-7def-8abc-0123456789ab\"", true, NULL},
    {"{\"$ref\":\"#/$defs/Nope\"}", "1", false, "unresolvable $ref"},
    {"{\"$ref\":\"#/$defs/Id\",\"maxLength\":3}", "\"0190a4c2-1c3b-7def-8abc-0123456789ab\"", false,
     "maxLength is 3"},
    /* enum, const */
    {"{\"enum\":[\"open\",\"closed\"]}", "\"open\"", true, NULL},
    {"{\"enum\":[\"open\",\"closed\"]}", "\"shut\"", false, "not in the enum"},
    {"{\"const\":\"ok\"}", "\"ko\"", false, "not the const"},
    /* formats */
    {"{\"format\":\"date-time\"}", "\"2026-11-22T10:04:05.123Z\"", true, NULL},
    {"{\"format\":\"date-time\"}", "\"2024-02-29T23:59:59.000Z\"", true, NULL},
    {"{\"format\":\"date-time\"}", "\"2026-11-22T10:04:05Z\"", false, "milliseconds"},
    {"{\"format\":\"date-time\"}", "\"2026-11-22T10:04:05.123+00:00\"", false, "UTC"},
    {"{\"format\":\"date-time\"}", "\"2026-11-22 10:04:05.123Z\"", false, "date-time"},
    {"{\"format\":\"date-time\"}", "\"2026-11-22T10:04:05.123456Z\"", false, "date-time"},
    {"{\"format\":\"date-time\"}", "\"2025-02-29T10:04:05.123Z\"", false, "date-time"},
    {"{\"format\":\"date-time\"}", "\"2026-11-22T24:00:00.000Z\"", false, "date-time"},
    {"{\"format\":\"uuid\"}", "\"0190A4C2-1C3B-7DEF-8ABC-0123456789AB\"", false, "lower-case"},
    {"{\"format\":\"uuid\"}", "\"0190a4c21c3b7def8abc0123456789ab\"", false, "uuid"},
    {"{\"format\":\"email\"}", "\"anything\"", true, NULL}, /* an annotation only */
    /* numbers, lengths, patterns */
    {"{\"minimum\":0}", "-1", false, "below the minimum"},
    {"{\"maximum\":599}", "600", false, "above the maximum"},
    {"{\"minLength\":1}", "\"\"", false, "minLength is 1"},
    {"{\"maxLength\":2}", "\"\\u00e9\\u00e9\"", true, NULL}, /* characters, not bytes */
    {"{\"pattern\":\"^[0-9a-f]{4}$\"}", "\"beef\"", true, NULL},
    {"{\"pattern\":\"^[0-9a-f]{4}$\"}", "\"BEEF\"", false, "does not match"},
    /* combinators */
    {"{\"allOf\":[{\"required\":[\"a\"]},{\"required\":[\"b\"]}]}", "{\"a\":1}", false,
     "\"b\" is missing"},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "null", true, NULL},
    {"{\"anyOf\":[{\"type\":\"string\"},{\"type\":\"null\"}]}", "1", false,
     "matches no branch of anyOf"},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "-1", true, NULL},
    {"{\"oneOf\":[{\"type\":\"integer\"},{\"minimum\":0}]}", "1", false,
     "branches 0 and 1 of oneOf"},
    {"{\"oneOf\":[{\"$ref\":\"#/$defs/Cat\"},{\"$ref\":\"#/$defs/Dog\"}]}",
     "{\"kind\":\"dog\",\"bark\":true}", true, NULL},
    {"{\"oneOf\":[{\"$ref\":\"#/$defs/Cat\"},{\"$ref\":\"#/$defs/Dog\"}]}",
     "{\"kind\":\"dog\",\"bark\":1}", false, "matches no branch of oneOf"},
    {"{\"oneOf\":[{\"$ref\":\"#/$defs/Cat\"},{\"$ref\":\"#/$defs/Dog\"}],"
     "\"discriminator\":{\"propertyName\":\"kind\",\"mapping\":{\"cat\":\"#/$defs/Cat\","
     "\"dog\":\"#/$defs/Dog\"}}}",
     "{\"kind\":\"dog\",\"bark\":1}", false, "at $.bark (schema #/$defs/Dog/properties/bark)"},
    {"{\"oneOf\":[{\"$ref\":\"#/$defs/Cat\"}],"
     "\"discriminator\":{\"propertyName\":\"kind\",\"mapping\":{\"cat\":\"#/$defs/Cat\"}}}",
     "{\"kind\":\"cow\"}", false, "names no schema"},
    {"{\"not\":{\"type\":\"null\"}}", "null", false, "under not"},
    {"{\"if\":{\"properties\":{\"t\":{\"const\":\"edit\"}}},\"then\":{\"required\":[\"x\"]}}",
     "{\"t\":\"edit\"}", false, "\"x\" is missing"},
    {"{\"if\":{\"properties\":{\"t\":{\"const\":\"edit\"}}},\"then\":{\"required\":[\"x\"]}}",
     "{\"t\":\"approve\"}", true, NULL},
    {"false", "1", false, "allows nothing"},
    {"true", "1", true, NULL},
};

Test(oas, validator_cases)
{
    json_t *root = json_loads(defs, 0, NULL);

    cr_assert_not_null(root);
    for (size_t i = 0; i < sizeof(vcases) / sizeof(vcases[0]); i++) {
        const struct vcase *c = &vcases[i];
        json_t *s = json_loads(c->schema, JSON_DECODE_ANY, NULL);
        json_t *v = json_loads(c->instance, JSON_DECODE_ANY, NULL);
        char err[1024];
        int rc;

        cr_assert(s && v, "case %zu: bad JSON", i);
        rc = oas_validate(root, s, "#", v, err, sizeof(err));
        if (c->valid) {
            cr_expect_eq(rc, 0, "case %zu: %s against %s: %s", i, c->instance, c->schema, err);
        } else {
            cr_expect_eq(rc, -1, "case %zu: %s against %s passed", i, c->instance, c->schema);
            cr_expect(rc == 0 || strstr(err, c->reason) != NULL,
                      "case %zu: error \"%s\" lacks \"%s\"", i, err, c->reason);
        }
        json_decref(s);
        json_decref(v);
    }
    json_decref(root);
}

struct ccase {
    const char *method, *pattern; /* pattern NULL: no route matched */
    long status;
    const char *content_type, *body;
    bool valid;
    const char *reason;
};

#define PROBLEM(st) "{\"type\":\"x\",\"title\":\"X\",\"status\":" #st ",\"detail\":\"d\"}"

static const struct ccase ccases[] = {
    {"GET", "/healthz", 200, "application/json", "{\"status\":\"ok\"}", true, NULL},
    {"GET", "/healthz", 200, "application/json", "{\"status\":\"bad\"}", false, "const"},
    {"GET", "/healthz", 200, "application/json", NULL, false, "not JSON"},
    {"GET", "/healthz", 200, "text/html", "{\"status\":\"ok\"}", false, "not documented"},
    {"GET", "/healthz", 418, "application/json", "{\"status\":\"ok\"}", false,
     "status 418 is not documented"},
    {"GET", "/nope", 200, "application/json", "{}", false, "not in the document"},
    {"GET", "/metrics", 200, "text/plain; version=0.0.4", NULL, true, NULL},
    {"GET", "/v1/account", 401, "application/problem+json", PROBLEM(401), true, NULL},
    {"GET", "/v1/account", 401, "application/problem+json", PROBLEM(403), false,
     "differs from the HTTP status"},
    {"GET", "/v1/account", 401, "application/problem+json", "{\"title\":\"X\"}", false,
     "\"type\" is missing"},
    {"GET", "/v1/conversations/{id}", 200, "application/json",
     "{\"id\":\"0190a4c2-1c3b-7def-8abc-0123456789ab\"}", false, "is missing"},
    {"DELETE", "/v1/conversations/{id}", 204, "", NULL, true, NULL},
    {"DELETE", "/v1/conversations/{id}", 204, "application/json", "{}", false, "without a body"},
    {"DELETE", "/v1/webhooks/registry/{source}/{topicKey...}", 404, "application/problem+json",
     PROBLEM(404), true, NULL},
    {NULL, NULL, 404, "application/problem+json", PROBLEM(404), true, NULL},
    {NULL, NULL, 405, "application/problem+json", "{\"status\":405}", false, "is missing"},
    {NULL, NULL, 200, "application/json", "{}", false, "no route matched"},
};

Test(oas, check_cases)
{
    cr_assert_not_null(oas_document(), "no embedded openapi document");
    for (size_t i = 0; i < sizeof(ccases) / sizeof(ccases[0]); i++) {
        const struct ccase *c = &ccases[i];
        json_t *body = c->body ? json_loads(c->body, 0, NULL) : NULL;
        char err[1024];
        int rc = oas_check(c->method ? c->method : "GET", c->pattern, c->status, c->content_type,
                           body, err, sizeof(err));

        if (c->valid) {
            cr_expect_eq(rc, 0, "case %zu: %s", i, err);
        } else {
            cr_expect_eq(rc, -1, "case %zu passed", i);
            cr_expect(rc == 0 || strstr(err, c->reason) != NULL,
                      "case %zu: error \"%s\" lacks \"%s\"", i, err, c->reason);
        }
        json_decref(body);
    }
}

/* x-scope names the scope of the route's row (null: scope 0), and the routes
 * that take no key (public, webhook) have "security": []. A document path is
 * the pattern with a last "{name...}" written "{name}". */
/* The document's operation of route r, or NULL; its path into docpath. */
static const json_t *
doc_op(const json_t *paths, const struct route *r, char docpath[256])
{
    char lm[16];
    size_t k, len;

    snprintf(docpath, 256, "%s", r->pattern);
    len = strlen(docpath);
    if (len > 4 && strcmp(docpath + len - 4, "...}") == 0)
        strcpy(docpath + len - 4, "}");
    for (k = 0; r->method[k] && k + 1 < sizeof(lm); k++)
        lm[k] = (char)(r->method[k] | 0x20);
    lm[k] = '\0';
    return json_object_get(json_object_get(paths, docpath), lm);
}

Test(oas, document_scopes_match_route_tables)
{
    const json_t *paths = json_object_get(oas_document(), "paths");
    const struct route *const *all;
    size_t n;

    cr_assert_eq(router_init(routes_all), 0);
    all = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const struct route *r = all[i];
        char docpath[256];
        const json_t *op, *xs, *sec;
        const char *want = r->scope ? scope_name(r->scope) : NULL;
        bool keyless = r->flags & (ROUTE_PUBLIC | ROUTE_WEBHOOK);

        op = doc_op(paths, r, docpath);
        cr_expect_not_null(op, "%s %s is not in the document", r->method, docpath);
        if (op == NULL)
            continue;
        xs = json_object_get(op, "x-scope");
        cr_expect(xs != NULL, "%s %s: no x-scope", r->method, docpath);
        if (want == NULL)
            cr_expect(json_is_null(xs), "%s %s: x-scope %s, the route needs none", r->method,
                      docpath, json_string_value(xs));
        else
            cr_expect(json_is_string(xs) && strcmp(json_string_value(xs), want) == 0,
                      "%s %s: x-scope %s, the route needs %s", r->method, docpath,
                      json_is_string(xs) ? json_string_value(xs) : "null", want);
        sec = json_object_get(op, "security");
        if (keyless)
            cr_expect(json_is_array(sec) && json_array_size(sec) == 0,
                      "%s %s takes no key, but its security is not []", r->method, docpath);
        else
            cr_expect(sec == NULL || json_array_size(sec) > 0,
                      "%s %s needs a key, but its security is []", r->method, docpath);
    }
}

/* A route has a Location for its 201 (routes_created) exactly when the
 * document says it can answer 201, and the document's 201 names the
 * Location header (API.md v1.1: every 201 carries Location). */
Test(oas, every_201_of_the_document_has_a_location)
{
    const json_t *paths = json_object_get(oas_document(), "paths");
    const struct route *const *all;
    size_t n;

    cr_assert_eq(router_init(routes_all), 0);
    cr_assert_eq(router_locations(routes_created), 0);
    all = router_routes(&n);
    for (size_t i = 0; i < n; i++) {
        const struct route *r = all[i];
        char docpath[256];
        const json_t *created =
            json_object_get(json_object_get(doc_op(paths, r, docpath), "responses"), "201");

        cr_expect((created != NULL) == (router_location((int)i) != NULL),
                  "%s %s: a 201 in the document %s, a Location in routes_created %s", r->method,
                  docpath, created ? "yes" : "no", router_location((int)i) ? "yes" : "no");
        if (created != NULL)
            cr_expect_not_null(json_object_get(json_object_get(created, "headers"), "Location"),
                               "%s %s: the document's 201 has no Location header", r->method,
                               docpath);
    }
}
