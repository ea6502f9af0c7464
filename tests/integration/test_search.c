/* test_search: being written. */
#include <criterion/criterion.h>
