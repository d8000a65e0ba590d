/* strmap.h — an open-addressing hash map from byte strings to int32 values.
 *
 * Keys are copied into a pool the map owns; lookups never allocate. Used for
 * tokenizer vocabularies (token -> id) and encode caches. Not thread-safe for
 * concurrent writers; concurrent readers of an unchanging map are fine.
 * Not an ordered map and does not support deletion.
 */
#ifndef LB_STRMAP_H
#define LB_STRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lb_strmap_slot {
    uint64_t off;      /* key offset in pool */
    uint32_t len;      /* key length in bytes */
    uint32_t hash;     /* low 32 bits of the key hash; 0 marks an empty slot */
    int32_t val;
} lb_strmap_slot;

typedef struct lb_strmap {
    lb_strmap_slot *slots;  /* (mask + 1) */
    size_t mask;
    size_t count;
    char *pool;             /* (pool_cap) keys back to back */
    size_t pool_len, pool_cap;
} lb_strmap;

/* lb_strmap_init: an empty map (no allocation until the first put). */
void lb_strmap_init(lb_strmap *m);
/* lb_strmap_free: releases slots and pool; the map is empty afterwards. */
void lb_strmap_free(lb_strmap *m);
/* lb_strmap_clear: forgets all keys but keeps the allocations. */
void lb_strmap_clear(lb_strmap *m);

/* lb_strmap_put: maps key[0..len) to val, replacing an existing value.
 * Returns false only when out of memory (the map is unchanged then). */
bool lb_strmap_put(lb_strmap *m, const char *key, size_t len, int32_t val);

/* lb_strmap_get: true and *val set when key[0..len) is present. */
bool lb_strmap_get(const lb_strmap *m, const char *key, size_t len, int32_t *val);

/* lb_hash_bytes: the 64-bit hash the map uses (exposed for other tables). */
uint64_t lb_hash_bytes(const void *p, size_t n);

#endif
