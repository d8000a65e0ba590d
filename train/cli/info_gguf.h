/* info_gguf.h — `lowbit info FILE.gguf` (the GGUF part of cmd_info.c). */
#ifndef LB_CLI_INFO_GGUF_H
#define LB_CLI_INFO_GGUF_H

#include <stdbool.h>

/* lb_info_gguf: opens and validates `path` (quant/gguf.h) and prints its
 * header, metadata (arrays abbreviated), tensors with type, dims, bytes and
 * bits per weight, and totals; as one JSON object with json. Returns the
 * exit code (1 after printing the error on a bad file). */
int lb_info_gguf(const char *path, bool json);

#endif
