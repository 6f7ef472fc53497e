/* Numbers, sizes and rates typed by users: strict (no sign, no junk, no
 * overflow), and human-readable sizes for output. */
#include <ctype.h>
#include <string.h>
#include <strings.h>

#include "cli.h"

/* Decimal digits only, into *out; NULL or the reason it is not a number. */
static const char *parse_digits(const char *text, const char **end, uint64_t *out)
{
    const char *p = text;
    if (*p == '-')
        return "negative values are not allowed";
    if (!isdigit((unsigned char)*p))
        return "not a number";
    uint64_t v = 0;
    for (; isdigit((unsigned char)*p); p++) {
        unsigned d = (unsigned)(*p - '0');
        if (v > (UINT64_MAX - d) / 10)
            return "too large";
        v = v * 10 + d;
    }
    *end = p;
    *out = v;
    return NULL;
}

static int suffix_power(const char *s, uint64_t base)
{
    static const char letters[] = "KMGTPE";
    if (!*s)
        return 0;
    if (strcasecmp(s, "b") == 0 || (base == 1000 && strcasecmp(s, "bit") == 0))
        return 0; /* plain bytes (or, for rates, bits) */
    const char *l = strchr(letters, toupper((unsigned char)*s));
    if (!l || !*l)
        return -1;
    int power = (int)(l - letters) + 1;
    const char *rest = s + 1;
    /* "K", "KB", "KiB" and, for rates, "kbit"/"kb" are accepted. */
    if (*rest == 0 || strcasecmp(rest, "b") == 0 || strcasecmp(rest, "ib") == 0 ||
        strcasecmp(rest, "i") == 0 || (base == 1000 && strcasecmp(rest, "bit") == 0))
        return power;
    return -1;
}

const char *cli_size_parse(const char *text, uint64_t default_unit, uint64_t base, uint64_t *out)
{
    if (!text || !*text)
        return "empty value";
    const char *end = NULL;
    uint64_t v;
    const char *why = parse_digits(text, &end, &v);
    if (why)
        return why;
    uint64_t unit = default_unit;
    if (*end) {
        int power = suffix_power(end, base);
        if (power < 0)
            return "unknown unit suffix";
        unit = 1;
        for (int i = 0; i < power; i++)
            unit *= base;
    }
    if (unit && v > UINT64_MAX / unit)
        return "too large";
    *out = v * unit;
    return NULL;
}

int cli_parse_u64(const struct cli_args *a, const char *opt, const char *text, uint64_t min,
                  uint64_t max, uint64_t *out)
{
    const char *end = NULL;
    uint64_t v = 0;
    const char *why = text && *text ? parse_digits(text, &end, &v) : "empty value";
    if (!why && *end)
        why = "not a whole number";
    bool too_large = why && strcmp(why, "too large") == 0;
    if (too_large || (!why && (v < min || v > max))) {
        cli_usage_error(a, "option '%s': %s is out of range (%llu-%llu)", opt, text,
                        (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    if (why) {
        cli_usage_error(a, "option '%s': invalid number '%s': %s (range %llu-%llu)", opt,
                        text ? text : "", why, (unsigned long long)min, (unsigned long long)max);
        return -1;
    }
    *out = v;
    return 0;
}

int cli_parse_size(const struct cli_args *a, const char *opt, const char *text,
                   uint64_t default_unit, uint64_t *out)
{
    const char *why = cli_size_parse(text, default_unit, 1024, out);
    if (why) {
        cli_usage_error(a, "option '%s': invalid size '%s': %s (examples: 512M, 2G, 1048576K)", opt,
                        text, why);
        return -1;
    }
    return 0;
}

int cli_parse_rate(const struct cli_args *a, const char *opt, const char *text, uint64_t *out)
{
    const char *why = cli_size_parse(text, 1, 1000, out);
    if (why) {
        cli_usage_error(a, "option '%s': invalid rate '%s': %s (examples: 1000000, 500k, 10M)", opt,
                        text, why);
        return -1;
    }
    return 0;
}

const char *cli_format_size(uint64_t bytes, char *buf, size_t len)
{
    static const char *const units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
    if (bytes < 1024) {
        snprintf(buf, len, "%llu B", (unsigned long long)bytes);
        return buf;
    }
    double v = (double)bytes / 1024.0;
    size_t u = 0;
    while (v >= 1024.0 && u + 1 < sizeof(units) / sizeof(units[0])) {
        v /= 1024.0;
        u++;
    }
    /* Whole values print without a fraction ("512 MiB"), others with one
     * decimal ("1.5 MiB"). */
    if (v == (double)(uint64_t)v)
        snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}
