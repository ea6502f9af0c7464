/* test_outbox: being written. */
#include <criterion/criterion.h>
