/* Durations as jsonwebtoken's expiresIn takes them (the "ms" package's
 * grammar, in seconds): a non-negative number, optionally with a fraction,
 * optionally followed by spaces and a unit. A bare number is seconds (as
 * jsonwebtoken reads a numeric expiresIn). Milliseconds are refused: a
 * sub-second token lifetime is a slip, not an intent. */
#include <string.h>

#include <wsjwt/jwt.h>

static const struct {
    const char *name;
    int64_t seconds;
} units[] = {
    {"s", 1},           {"sec", 1},          {"secs", 1},      {"second", 1},
    {"seconds", 1},     {"m", 60},           {"min", 60},      {"mins", 60},
    {"minute", 60},     {"minutes", 60},     {"h", 3600},      {"hr", 3600},
    {"hrs", 3600},      {"hour", 3600},      {"hours", 3600},  {"d", 86400},
    {"day", 86400},     {"days", 86400},     {"w", 604800},    {"week", 604800},
    {"weeks", 604800},  {"y", 31557600},     {"yr", 31557600}, {"yrs", 31557600},
    {"year", 31557600}, {"years", 31557600},
};
/* A year is 365.25 days (31557600 s), as in the "ms" package. */

static int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + ('a' - 'A') : c;
}

static int unit_seconds(const char *s, size_t len, int64_t *out)
{
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        const char *n = units[i].name;
        if (strlen(n) != len)
            continue;
        size_t j = 0;
        while (j < len && lower((unsigned char)s[j]) == n[j])
            j++;
        if (j == len) {
            *out = units[i].seconds;
            return 0;
        }
    }
    return WSJWT_EINVAL;
}

int wsjwt_duration_parse(const char *s, size_t len, int64_t *seconds)
{
    size_t i = 0;
    int64_t whole = 0, frac = 0, frac_scale = 1, unit = 1;
    int digits = 0;
    if (!s || !seconds)
        return WSJWT_EINVAL;
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
        if (__builtin_mul_overflow(whole, 10, &whole) || __builtin_add_overflow(whole, s[i] - '0', &whole))
            return WSJWT_EOVERFLOW;
    }
    if (i < len && s[i] == '.') {
        i++;
        if (i == len || s[i] < '0' || s[i] > '9')
            return WSJWT_EINVAL; /* "1." is not a number in the ms grammar */
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++, digits++) {
            /* Digits past the ninth cannot change a whole number of seconds
             * for any unit up to a year (31557600 < 10^9). */
            if (frac_scale < 1000000000) {
                frac = frac * 10 + (s[i] - '0');
                frac_scale *= 10;
            }
        }
    }
    if (digits == 0)
        return WSJWT_EINVAL;
    while (i < len && s[i] == ' ')
        i++;
    if (i < len && unit_seconds(s + i, len - i, &unit) != 0)
        return WSJWT_EINVAL;
    int64_t total;
    if (__builtin_mul_overflow(whole, unit, &total) ||
        __builtin_add_overflow(total, frac * unit / frac_scale, &total))
        return WSJWT_EOVERFLOW;
    *seconds = total;
    return 0;
}
