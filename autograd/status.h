/* status.h — lowbit's two error channels.
 *
 * Bad input (a file, a flag, a config) is the user's: functions that can meet
 * it return an lb_status whose message names the file, the field and what was
 * expected. Callers pass it up; the CLI prints "lowbit: error: <msg>" and exits
 * non-zero.
 *
 * Broken invariants and library failures are ours: LB_CHECK prints file:line
 * and the failing expression, then aborts through lb_fatal().
 *
 * This file is not a logging framework and holds no global state.
 */
#ifndef LB_STATUS_H
#define LB_STATUS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum lb_code {
    LB_OK = 0,
    LB_ERR_IO,          /* a file could not be opened, read or written */
    LB_ERR_FORMAT,      /* a file's contents are malformed */
    LB_ERR_ARG,         /* a flag, spec or config value is invalid */
    LB_ERR_SHAPE,       /* shapes or sizes disagree */
    LB_ERR_OOM,         /* an allocation failed */
    LB_ERR_UNSUPPORTED, /* valid input that lowbit does not handle */
} lb_code;

#define LB_STATUS_MSG_MAX 1024

typedef struct lb_status {
    lb_code code;
    char msg[LB_STATUS_MSG_MAX];
} lb_status;

/* lb_ok: a status with code LB_OK and an empty message. */
lb_status lb_ok(void);

/* lb_errorf: a status with `code` and a printf-formatted message. */
lb_status lb_errorf(lb_code code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* lb_status_prefix: returns `st` with "<prefix>: " put before its message
 * (for adding context such as the file name while passing an error up). */
lb_status lb_status_prefix(lb_status st, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static inline bool lb_failed(const lb_status *st) { return st->code != LB_OK; }

/* lb_fatal: prints "lowbit: internal error at file:line: msg" and aborts.
 * (noreturn as an attribute rather than _Noreturn so that the CUDA files,
 * compiled as C++, can include this header.) */
void lb_fatal(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4), noreturn));

#define LB_CHECK(cond)                                                        \
    do {                                                                      \
        if (!(cond)) lb_fatal(__FILE__, __LINE__, "check failed: %s", #cond); \
    } while (0)

#define LB_CHECKF(cond, ...)                                  \
    do {                                                      \
        if (!(cond)) lb_fatal(__FILE__, __LINE__, __VA_ARGS__); \
    } while (0)

/* LB_TRY: evaluate an expression returning lb_status; return it if failed. */
#define LB_TRY(expr)                          \
    do {                                      \
        lb_status lb_try_st_ = (expr);        \
        if (lb_failed(&lb_try_st_)) return lb_try_st_; \
    } while (0)

#ifdef __cplusplus
}
#endif

#endif
