/* status.c — construction of lb_status values and the one fatal handler. */
#include "autograd/status.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

lb_status lb_ok(void)
{
    lb_status st;
    st.code = LB_OK;
    st.msg[0] = '\0';
    return st;
}

lb_status lb_errorf(lb_code code, const char *fmt, ...)
{
    lb_status st;
    va_list ap;
    st.code = code;
    va_start(ap, fmt);
    vsnprintf(st.msg, sizeof st.msg, fmt, ap);
    va_end(ap);
    return st;
}

lb_status lb_status_prefix(lb_status st, const char *fmt, ...)
{
    char prefix[LB_STATUS_MSG_MAX];
    char joined[2 * LB_STATUS_MSG_MAX + 4];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(prefix, sizeof prefix, fmt, ap);
    va_end(ap);
    snprintf(joined, sizeof joined, "%s: %s", prefix, st.msg);
    memcpy(st.msg, joined, sizeof st.msg - 1);
    st.msg[sizeof st.msg - 1] = '\0';
    return st;
}

_Noreturn void lb_fatal(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "lowbit: internal error at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    abort();
}
