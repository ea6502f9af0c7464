/* test_learning: being written. */
#include <criterion/criterion.h>
