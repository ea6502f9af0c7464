/* test_conversations: being written. */
#include <criterion/criterion.h>
