/* test_jobs: being written. */
#include <criterion/criterion.h>
