/* sha256.h — SHA-256 of a byte buffer (FIPS 180-4), for recording which
 * tokenizer / source file produced a dataset. Not a general crypto API. */
#ifndef LB_SHA256_H
#define LB_SHA256_H

#include <stddef.h>

/* lb_sha256_hex: writes the lowercase hex digest of data[0..n) and a NUL to out. */
void lb_sha256_hex(const void *data, size_t n, char out[65]);

#endif
