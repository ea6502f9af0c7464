/*
 * embedded: files compiled into the binary at build time (src/embed.c):
 * the SQL migrations, the seed and the OpenAPI document; apart from them
 * the current SQL (sql/current/).
 */
#ifndef INBOXD_EMBEDDED_H
#define INBOXD_EMBEDDED_H

#include <stddef.h>

struct embedded_file {
    const char *name;   /* base name without extension: "0001_init" */
    const char *data;   /* NUL-terminated */
    size_t len;         /* without the NUL */
};

/* Terminated by an entry with name == NULL; in the order given to the build. */
extern const struct embedded_file embedded_files[];

/* The files of sql/current/ ("render", "feed"): the current definition of
 * every function and view, which migrate applies after the migrations, in
 * this order (meson's current_sql list). Terminated like embedded_files. */
extern const struct embedded_file embedded_current[];

/* The file of that base name, or NULL. Returns borrowed (static) data. */
const struct embedded_file *embedded_find(const char *name);

#endif
