/*
 * page: keyset pagination shared by every list (API.md "Conventions").
 *
 * A route reads ?limit and ?cursor into a struct page (query.h); a db
 * function passes its text fields as statement parameters:
 *
 *   WHERE account_id = $1 AND ($2::uuid IS NULL OR id > $2) ORDER BY id LIMIT $3
 *
 * or, for lists ordered by a timestamp,
 *
 *   AND ($2::timestamptz IS NULL OR (t, id) > ($2, $3::uuid)) ORDER BY t, id
 *
 * and fetches limit + 1 rows, so db_page_render() knows whether there is
 * a next page.
 */
#ifndef INBOXD_PAGE_H
#define INBOXD_PAGE_H

#include <stdbool.h>

#define PAGE_DEFAULT 50
#define PAGE_MAX 200

struct page {
    int limit;
    char fetch[12];          /* limit + 1, as text: the LIMIT parameter */
    const char *after_ts;    /* NULL or RFC 3339 with microseconds */
    const char *after_id;    /* NULL or a lower-case UUID */
    const char *after_xid;   /* NULL or a commit position: an xid8 in decimal */
    char ts_buf[32];
    char id_buf[37];
    char xid_buf[24];
};

#endif
