/* framing: the request-target flaws found before libmicrohttpd decodes it. */
#include <criterion/criterion.h>

#include "inboxd/http/framing.h"

Test(framing, clean_targets_have_no_flaw)
{
    static const char *const ok[] = {
        "/v1/conversations",
        "/v1/conversations?limit=5",
        "/v1/search/messages?q=a%2Fb",
        "/v1/search/messages?q=%25%30%30",
        "/v1/a%20b",
        "/%",
        "/%0",
        "",
    };

    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert_null(framing_target_flaw(ok[i]), "%s", ok[i]);
}

Test(framing, encoded_nul_and_slash_are_flaws)
{
    static const char *const bad[] = {
        "/v1/conversations%00",  "/v1/x?limit=5%00", "/v1/x?cursor=abc%00&limit=1",
        "/v1/conversations%2Fx", "/v1/conversations%2fx",
    };

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        const struct framing_flaw *f = framing_target_flaw(bad[i]);

        cr_assert_not_null(f, "%s", bad[i]);
        cr_assert_eq(f->status, 400);
        cr_assert(framing_is_flaw(f));
    }
    cr_assert_not(framing_is_flaw("not a flaw"));
    cr_assert_not(framing_is_flaw(NULL));
}
