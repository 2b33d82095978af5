/* Verification policies: built once, immutable, shared by every thread. */
#include <stdlib.h>
#include <string.h>

#include "jwt/jwt_policy.h"

static void free_list(char **list, size_t n)
{
    if (!list)
        return;
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

static int copy_list(const char *const *src, size_t n, char ***dst)
{
    *dst = NULL;
    if (n == 0)
        return 0;
    if (!src)
        return WSJWT_EINVAL;
    if (!(*dst = calloc(n, sizeof(char *))))
        return WSJWT_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if (!src[i])
            return WSJWT_EINVAL;
        if (!((*dst)[i] = strdup(src[i])))
            return WSJWT_ENOMEM;
    }
    return 0;
}

int wsjwt_policy_new(const struct wsjwt_policy_opts *opts, struct wsjwt_policy **out)
{
    struct wsjwt_policy *p;
    int rc;
    if (!out)
        return WSJWT_EINVAL;
    *out = NULL;
    /* RFC 8725 3.1: the allowed algorithms are explicit; there is no default
     * and "none" has no value that could be listed. */
    if (!opts || !opts->algs || opts->n_algs == 0 || opts->leeway < 0 || opts->max_age < 0)
        return WSJWT_EINVAL;
    if (!(p = calloc(1, sizeof(*p))))
        return WSJWT_ENOMEM;
    for (size_t i = 0; i < opts->n_algs; i++) {
        enum wsjwt_alg a = opts->algs[i];
        if ((int)a <= WSJWT_ALG_UNKNOWN || a >= WSJWT_ALG_COUNT) {
            rc = WSJWT_EINVAL;
            goto fail;
        }
        p->allowed |= 1u << a;
    }
    p->leeway = opts->leeway;
    p->require_exp = opts->require_exp != 0;
    p->max_age = opts->max_age;
    p->max_token_len = opts->max_token_len ? opts->max_token_len : WSJWT_JWT_DEFAULT_MAX_LEN;
    p->n_issuers = opts->n_issuers;
    p->n_audiences = opts->n_audiences;
    p->n_required = opts->n_required;
    if ((rc = copy_list(opts->issuers, opts->n_issuers, &p->issuers)) != 0 ||
        (rc = copy_list(opts->audiences, opts->n_audiences, &p->audiences)) != 0 ||
        (rc = copy_list(opts->required, opts->n_required, &p->required)) != 0)
        goto fail;
    if ((opts->subject && !(p->subject = strdup(opts->subject))) ||
        (opts->typ && !(p->typ = strdup(opts->typ)))) {
        rc = WSJWT_ENOMEM;
        goto fail;
    }
    *out = p;
    return 0;
fail:
    wsjwt_policy_free(p);
    return rc;
}

void wsjwt_policy_free(struct wsjwt_policy *p)
{
    if (!p)
        return;
    free_list(p->issuers, p->n_issuers);
    free_list(p->audiences, p->n_audiences);
    free_list(p->required, p->n_required);
    free(p->subject);
    free(p->typ);
    free(p);
}
