/*
 * fuzz_config: the configuration file reader and the flags (config.h).
 *
 * The input up to its first NUL byte is the file; each NUL-terminated
 * piece after it is one command-line argument. The file is handed to
 * config_load() as /proc/self/fd/N of a memfd, so nothing touches the disk.
 * A --config flag is dropped: it would name another file. The environment
 * is emptied of inboxd's variables once, at start. What loads must satisfy
 * what config_load() validates; what does not must say why.
 */
#include "fuzz.h"

#include <stdbool.h>
#include <sys/mman.h>
#include <unistd.h>

#include "inboxd/lib/config.h"

#define MAX_ARGS 32

static int memfd = -1;
static char path[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    for (const struct config_key *k = config_keys; k->name; k++)
        unsetenv(k->env);
    fuzz_clear_env();
    memfd = memfd_create("inboxd-fuzz-config", MFD_CLOEXEC);
    FUZZ_CHECK(memfd >= 0);
    snprintf(path, sizeof(path), "/proc/self/fd/%d", memfd);
    return 0;
}

static void
check_loaded(const struct config *cf)
{
    FUZZ_CHECK(cf->listen != NULL && strchr(cf->listen, ':') != NULL);
    FUZZ_CHECK(cf->log_level != NULL);
    FUZZ_CHECK(cf->pool_size >= 1);
    FUZZ_CHECK(cf->body_limit >= 1);
    FUZZ_CHECK(cf->nsources >= 0 && cf->nsources <= CONFIG_MAX_SOURCES);
    for (int i = 0; i < cf->nsources; i++) {
        const struct config_source *s = &cf->sources[i];

        FUZZ_CHECK(s->name[0] != '\0' && strlen(s->name) < sizeof(s->name));
        FUZZ_CHECK(s->secret != NULL && s->secret[0] != '\0');
        FUZZ_CHECK(s->account != NULL && s->account[0] != '\0');
        FUZZ_CHECK(config_source_find(cf, s->name) == s);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nul = memchr(data, '\0', size);
    size_t file_len = nul ? (size_t)(nul - data) : size;
    char *args = fuzz_strndup(data, size);
    char *argv[MAX_ARGS + 2];
    int argc = 0;
    struct config cf;
    char err[256];

    FUZZ_CHECK(ftruncate(memfd, 0) == 0);
    FUZZ_CHECK(pwrite(memfd, data, file_len, 0) == (ssize_t)file_len);
    argv[argc++] = "inboxd";
    for (size_t off = file_len + 1; off < size && argc <= MAX_ARGS;) {
        char *a = args + off;

        off += strlen(a) + 1;
        if (strncmp(a, "--config", 8) != 0)
            argv[argc++] = a;
    }
    argv[argc] = NULL;
    err[0] = '\0';
    if (config_load(&cf, path, &argc, argv, err, sizeof(err)) == 0) {
        check_loaded(&cf);
        FUZZ_CHECK(argc >= 1 && argv[argc] == NULL);
        config_cleanup(&cf);
    } else {
        FUZZ_CHECK(err[0] != '\0' && strlen(err) < sizeof(err));
    }
    free(args);
    return 0;
}
