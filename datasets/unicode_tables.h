/* unicode_tables.h — the shapes of the generated Unicode data
 * (datasets/unicode_tables.c, written by scripts/gen_unicode_tables.py).
 *
 * Every table is sorted by code point. Each has a bitmap of the 256-code-point
 * blocks that hold entries (bit (cp >> 8) & 7 of byte cp >> 11), so lookups of
 * characters in blocks without data cost one load. Only datasets/unicode.c
 * reads these.
 */
#ifndef LB_UNICODE_TABLES_H
#define LB_UNICODE_TABLES_H

#include <stdint.h>

typedef struct lb_uc_run {        /* code points lo..hi share value v */
    uint32_t lo, hi;
    uint8_t v;
} lb_uc_run;

typedef struct lb_uc_decomp {     /* cp -> lb_uc_pool[off .. off + len) */
    uint32_t cp;
    uint16_t off;
    uint8_t len;
} lb_uc_decomp;

typedef struct lb_uc_pair {       /* (first, second) -> composite */
    uint32_t first, second, composite;
} lb_uc_pair;

typedef struct lb_uc_map {        /* cp -> to */
    uint32_t cp, to;
} lb_uc_map;

#define LB_UC_BLOCK_BYTES (0x110000 >> 11)

extern const char lb_uc_version[];
extern const uint8_t lb_uc_ccc_blocks[LB_UC_BLOCK_BYTES];
extern const lb_uc_run lb_uc_ccc[];          /* canonical combining class (non-zero runs) */
extern const int lb_uc_n_ccc;
extern const uint8_t lb_uc_mark_blocks[LB_UC_BLOCK_BYTES];
extern const lb_uc_run lb_uc_mark[];         /* General_Category M */
extern const int lb_uc_n_mark;
extern const uint8_t lb_uc_decomp_blocks[LB_UC_BLOCK_BYTES];
extern const uint32_t lb_uc_pool[];
extern const lb_uc_decomp lb_uc_canon[];     /* full canonical decomposition */
extern const int lb_uc_n_canon;
extern const lb_uc_decomp lb_uc_compat[];    /* full compatibility one, where it differs */
extern const int lb_uc_n_compat;
extern const uint8_t lb_uc_comp_blocks[LB_UC_BLOCK_BYTES];   /* by first */
extern const lb_uc_pair lb_uc_comp[];        /* primary composites, by (first, second) */
extern const int lb_uc_n_comp;
extern const uint8_t lb_uc_lower_blocks[LB_UC_BLOCK_BYTES];
extern const lb_uc_map lb_uc_lower[];        /* one-character lowercase mappings */
extern const int lb_uc_n_lower;

#endif
