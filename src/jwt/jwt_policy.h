/* The policy object, shared by policy.c and verify.c. */
#ifndef WSJWT_JWT_POLICY_H
#define WSJWT_JWT_POLICY_H

#include "jwt/jwt_internal.h"

struct wsjwt_policy {
    uint32_t allowed; /* bit (1 << alg) per allowed algorithm */
    int64_t leeway;
    int require_exp;
    int64_t max_age;
    size_t max_token_len;
    char **issuers;
    size_t n_issuers;
    char **audiences;
    size_t n_audiences;
    char **required;
    size_t n_required;
    char *subject;
    char *typ;
};

#endif
