/*
 * rfc3339: timestamps as text, both ways.
 *
 * Calendar arithmetic is Howard Hinnant's days_from_civil/civil_from_days
 * (proleptic Gregorian, exact for any int64 day count we can meet), so no
 * timegm(), mktime(), TZ or locale is involved and results do not depend on
 * the host. Parsers are strict: one accepted spelling per field, nothing
 * trailing, every character checked before the next is read so none reads
 * past the NUL, and nothing is written unless the whole string is good.
 */
#include "inboxd/lib/rfc3339.h"

#include <stdbool.h>
#include <stddef.h>

#define USEC_PER_SEC 1000000LL
#define USEC_PER_DAY (86400LL * USEC_PER_SEC)

/* Broken-down UTC-or-local time as read from text, before the offset. */
struct civil {
    int year, month, day, hour, min, sec;
    int64_t frac_usec;
};

static int64_t
days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int *year, int *month, int *day)
{
    int64_t era, doe, yoe, y, doy, mp;

    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    y = yoe + era * 400;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *day = (int)(doy - (153 * mp + 2) / 5 + 1);
    *month = (int)(mp < 10 ? mp + 3 : mp - 9);
    *year = (int)(y + (*month <= 2));
}

static bool
is_leap(int y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
    static const int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

    return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Reads exactly n decimal digits from *p into *out and advances *p. Stops at
 * the first non-digit (NUL included), so it never reads past the string. */
static bool
read_digits(const char **p, int n, int *out)
{
    int v = 0;

    for (int i = 0; i < n; i++) {
        char c = (*p)[i];

        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool
read_char(const char **p, char want)
{
    if (**p != want)
        return false;
    (*p)++;
    return true;
}

/* Reads '.' and 1..max_digits digits if a '.' is next; keeps microseconds. */
static bool
read_fraction(const char **p, int max_digits, int64_t *usec)
{
    int64_t v = 0;
    int n = 0;

    *usec = 0;
    if (**p != '.')
        return true;
    (*p)++;
    while (**p >= '0' && **p <= '9') {
        if (++n > max_digits)
            return false;
        if (n <= 6)
            v = v * 10 + (**p - '0');
        (*p)++;
    }
    if (n == 0)
        return false;
    for (; n < 6; n++)
        v *= 10;
    *usec = v;
    return true;
}

/* "YYYY-MM-DD" sep "HH:MM:SS" [fraction], range-checked. sep2 may be 0. */
static bool
read_date_time(const char **p, char sep1, char sep2, char sep3, int max_frac, struct civil *t)
{
    char c;

    if (!read_digits(p, 4, &t->year) || !read_char(p, '-') || !read_digits(p, 2, &t->month) ||
        !read_char(p, '-') || !read_digits(p, 2, &t->day))
        return false;
    c = **p;
    if (c == '\0' || (c != sep1 && c != sep2 && c != sep3))
        return false;
    (*p)++;
    if (!read_digits(p, 2, &t->hour) || !read_char(p, ':') || !read_digits(p, 2, &t->min) ||
        !read_char(p, ':') || !read_digits(p, 2, &t->sec))
        return false;
    if (!read_fraction(p, max_frac, &t->frac_usec))
        return false;
    /* A leap second (:60) is rejected: we have no way to represent it, and
     * folding it into :59 would make two inputs mean one instant. */
    return t->year >= 1 && t->month >= 1 && t->month <= 12 && t->day >= 1 &&
           t->day <= days_in_month(t->year, t->month) && t->hour < 24 && t->min < 60 && t->sec < 60;
}

/* Combines local time and offset into UTC microseconds, within range. */
static bool
to_usec(const struct civil *t, int64_t offset_sec, int64_t *usec)
{
    int64_t days = days_from_civil(t->year, t->month, t->day);
    int64_t secs = days * 86400 + t->hour * 3600 + t->min * 60 + t->sec - offset_sec;
    int64_t v = secs * USEC_PER_SEC + t->frac_usec;

    if (v < RFC3339_MIN_USEC || v > RFC3339_MAX_USEC)
        return false;
    *usec = v;
    return true;
}

int
rfc3339_parse(const char *s, int64_t *usec)
{
    struct civil t;
    int64_t offset = 0;
    const char *p = s;
    int sign, oh, om;

    if (s == NULL || !read_date_time(&p, 'T', 't', ' ', 9, &t))
        return -1;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '-' ? -1 : 1;
        if (!read_digits(&p, 2, &oh) || !read_char(&p, ':') || !read_digits(&p, 2, &om) ||
            oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    } else {
        return -1;
    }
    if (*p != '\0' || !to_usec(&t, offset, usec))
        return -1;
    return 0;
}

int
rfc3339_parse_pg(const char *s, int64_t *usec)
{
    struct civil t;
    int64_t offset;
    const char *p = s;
    int sign, oh, om = 0, os = 0;

    /* PostgreSQL's ISO output uses a space only; 'T' would mean some other
     * producer, which we do not want to accept here silently. */
    if (s == NULL || !read_date_time(&p, ' ', 0, 0, 6, &t))
        return -1;
    if (*p != '+' && *p != '-')
        return -1;
    sign = *p++ == '-' ? -1 : 1;
    if (!read_digits(&p, 2, &oh))
        return -1;
    if (*p == ':') {
        p++;
        if (!read_digits(&p, 2, &om))
            return -1;
        if (*p == ':') {
            p++;
            if (!read_digits(&p, 2, &os))
                return -1;
        }
    }
    if (oh > 23 || om > 59 || os > 59)
        return -1;
    offset = sign * (oh * 3600 + om * 60 + os);
    if (*p != '\0' || !to_usec(&t, offset, usec))
        return -1;
    return 0;
}

static char *
put_digits(char *o, int64_t v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        o[i] = (char)('0' + v % 10);
        v /= 10;
    }
    return o + n;
}

static void
format_utc(int64_t usec, int frac_digits, char out[RFC3339_BUFLEN])
{
    int64_t days, rem, sod, frac;
    int year, month, day;
    char *o = out;

    if (usec < RFC3339_MIN_USEC)
        usec = RFC3339_MIN_USEC;
    if (usec > RFC3339_MAX_USEC)
        usec = RFC3339_MAX_USEC;
    /* Floor division, so times before 1970 still count forward within
     * their day and truncation goes toward the past. */
    days = usec / USEC_PER_DAY;
    rem = usec % USEC_PER_DAY;
    if (rem < 0) {
        rem += USEC_PER_DAY;
        days--;
    }
    civil_from_days(days, &year, &month, &day);
    sod = rem / USEC_PER_SEC;
    frac = rem % USEC_PER_SEC;
    if (frac_digits == 3)
        frac /= 1000;

    o = put_digits(o, year, 4);
    *o++ = '-';
    o = put_digits(o, month, 2);
    *o++ = '-';
    o = put_digits(o, day, 2);
    *o++ = 'T';
    o = put_digits(o, sod / 3600, 2);
    *o++ = ':';
    o = put_digits(o, sod / 60 % 60, 2);
    *o++ = ':';
    o = put_digits(o, sod % 60, 2);
    *o++ = '.';
    o = put_digits(o, frac, frac_digits);
    *o++ = 'Z';
    *o = '\0';
}

void
rfc3339_format_ms(int64_t usec, char out[RFC3339_BUFLEN])
{
    format_utc(usec, 3, out);
}

void
rfc3339_format_us(int64_t usec, char out[RFC3339_BUFLEN])
{
    format_utc(usec, 6, out);
}
