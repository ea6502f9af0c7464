/* test_review: being written. */
#include <criterion/criterion.h>
