/* test_admin: being written. */
#include <criterion/criterion.h>
