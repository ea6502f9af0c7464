/* test_webhooks: being written. */
#include <criterion/criterion.h>
