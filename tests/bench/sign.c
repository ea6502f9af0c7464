/*
 * sign: pre-signs webhook deliveries for the benchmark with inboxd's own
 * src/lib/sig.c (wrk's Lua has no HMAC).
 *
 *   sign SECRET < bodies.txt > deliveries.lua
 *
 * Reads one JSON body per line and writes a Lua file returning
 * { {timestamp, signature, body}, ... }, all signed with the current time:
 * run it right before the run, whose deliveries must arrive within the
 * timestamp window (webhook_max_skew_s, 5 minutes by default).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "inboxd/lib/sig.h"

int
main(int argc, char **argv)
{
    static char line[1 << 16];
    char sig[72];
    long long ts = (long long)time(NULL);
    long n = 0;

    if (argc != 2) {
        fprintf(stderr, "usage: sign SECRET < bodies > deliveries.lua\n");
        return 2;
    }
    printf("return {\n");
    while (fgets(line, sizeof(line), stdin)) {
        size_t len = strcspn(line, "\r\n");

        line[len] = '\0';
        if (len == 0)
            continue;
        if (strstr(line, "]==]") != NULL || sig_sign(argv[1], ts, line, len, sig) != 0) {
            fprintf(stderr, "sign: cannot sign line %ld\n", n + 1);
            return 1;
        }
        printf("{\"%lld\",\"%s\",[==[%s]==]},\n", ts, sig, line);
        n++;
    }
    printf("}\n");
    fprintf(stderr, "sign: %ld deliveries signed at %lld\n", n, ts);
    return 0;
}
