/* test_users_channels: being written. */
#include <criterion/criterion.h>
