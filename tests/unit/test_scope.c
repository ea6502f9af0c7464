/* scope: API key scopes by name and bit (src/lib/scope.c). */
#include "inboxd/lib/scope.h"

#include <criterion/criterion.h>

Test(scope, scopes_parse_and_format_round_trip)
{
    unsigned s;
    char text[160];

    cr_assert_eq(scope_parse("read drafts:write admin", &s), 0);
    cr_assert_eq(s, SCOPE_READ | SCOPE_DRAFTS_WRITE | SCOPE_ADMIN);
    scope_format(s, text, sizeof(text));
    cr_assert_str_eq(text, "read drafts:write admin");
    cr_assert_eq(scope_parse("read,outbox:write", &s), 0);
    cr_assert_eq(s, SCOPE_READ | SCOPE_OUTBOX_WRITE);
    cr_assert_eq(scope_parse("read superuser", &s), -1);
    cr_assert_eq(scope_parse("", &s), -1);
    cr_assert_str_eq(scope_name(SCOPE_JOBS_WRITE), "jobs:write");
}
