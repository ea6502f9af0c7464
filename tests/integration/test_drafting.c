/* test_drafting: being written. */
#include <criterion/criterion.h>
