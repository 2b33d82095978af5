/* The error table's functions: generated from WSJWT_ERRORS in error.h. */
#include <wsjwt/error.h>

const char *wsjwt_strerror(int err)
{
    switch (err) {
#define X_MSG(name, value, http, close, msg)                                                                 \
    case value:                                                                                              \
        return msg;
        WSJWT_ERRORS(X_MSG)
#undef X_MSG
    default:
        return "unknown error";
    }
}

const char *wsjwt_err_name(int err)
{
    switch (err) {
#define X_NAME(name, value, http, close, msg)                                                                \
    case value:                                                                                              \
        return #name;
        WSJWT_ERRORS(X_NAME)
#undef X_NAME
    default:
        return "EUNKNOWN";
    }
}

int wsjwt_err_http_status(int err)
{
    switch (err) {
#define X_HTTP(name, value, http, close, msg)                                                                \
    case value:                                                                                              \
        return (http) ? (http) : 500;
        WSJWT_ERRORS(X_HTTP)
#undef X_HTTP
    default:
        return 500;
    }
}

int wsjwt_err_close_code(int err)
{
    switch (err) {
#define X_CLOSE(name, value, http, close, msg)                                                               \
    case value:                                                                                              \
        return (close) ? (close) : 1011;
        WSJWT_ERRORS(X_CLOSE)
#undef X_CLOSE
    default:
        return 1011;
    }
}
