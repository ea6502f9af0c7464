/* test_messages: being written. */
#include <criterion/criterion.h>
