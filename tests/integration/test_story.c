/* test_story: being written. */
#include <criterion/criterion.h>
