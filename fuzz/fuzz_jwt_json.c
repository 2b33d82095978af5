/* libFuzzer target: the verification path's JSON parser (src/jwt/json.c)
 * against jansson with JSON_REJECT_DUPLICATES. Both must accept and refuse the
 * same texts for the same reason, and agree on every top-level member, except
 * where our depth and member caps refuse first. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jwt/json.h"
#include <wsjwt/error.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_members(json_t *obj, const struct wsjwt__jmember *m, size_t n)
{
    if (json_object_size(obj) != n)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_object_get(obj, m[i].key);
        if (!v)
            abort();
        switch (m[i].type) {
        case WSJWT__J_STRING:
            if (!json_is_string(v) || strcmp(json_string_value(v), m[i].str) != 0)
                abort();
            break;
        case WSJWT__J_INT:
            if (!json_is_integer(v) || json_integer_value(v) != m[i].num.i)
                abort();
            break;
        case WSJWT__J_REAL:
            if (!json_is_real(v) || json_real_value(v) != m[i].num.d)
                abort();
            break;
        case WSJWT__J_TRUE:
            if (!json_is_true(v))
                abort();
            break;
        case WSJWT__J_FALSE:
            if (!json_is_false(v))
                abort();
            break;
        case WSJWT__J_NULL:
            if (!json_is_null(v))
                abort();
            break;
        case WSJWT__J_OBJECT:
            if (!json_is_object(v))
                abort();
            break;
        case WSJWT__J_ARRAY: {
            size_t pos = 0, k = 0;
            int type;
            char *buf = malloc((size_t)m[i].raw_len + 1);
            if (!json_is_array(v))
                abort();
            while (wsjwt__json_array_next(&m[i], &pos, &type, buf)) {
                json_t *e = json_array_get(v, k++);
                if (!e ||
                    (type == WSJWT__J_STRING && (!json_is_string(e) || strcmp(json_string_value(e), buf))))
                    abort();
            }
            if (k != json_array_size(v))
                abort();
            free(buf);
            break;
        }
        default:
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct wsjwt__jmember m[WSJWT__JSON_MAX_MEMBERS];
    char *arena = malloc(size + 1);
    size_t n = 0;
    int limit = 0;
    json_error_t je;
    int rc =
        wsjwt__json_parse_object((const char *)data, size, arena, m, WSJWT__JSON_MAX_MEMBERS, &n, &limit);
    json_t *j = json_loadb((const char *)data, size, JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);
    /* jansson skips a NUL byte after a number (its unget buffer takes NUL
     * for "empty") and may then accept, or find a later error; we refuse
     * every NUL outside strings at once. Only that direction is tolerated. */
    if (rc == WSJWT_EJWT_JSON && memchr(data, 0, size)) {
        json_decref(j);
        free(arena);
        return 0;
    }
    if (limit) {
        if (rc != WSJWT_EJWT_JSON)
            abort();
    } else if (rc == 0) {
        if (!json_is_object(j))
            abort();
        check_members(j, m, n);
    } else if (rc == WSJWT_EJWT_NOT_OBJECT) {
        if (!j || json_is_object(j))
            abort();
    } else if (rc == WSJWT_EJWT_DUPLICATE) {
        if (j || json_error_code(&je) != json_error_duplicate_key)
            abort();
    } else {
        if (j || json_error_code(&je) == json_error_duplicate_key)
            abort();
    }
    json_decref(j);
    free(arena);
    return 0;
}
