/* strmap.c — linear-probing string -> int32 map with a key pool. */
#include "datasets/strmap.h"

#include <stdlib.h>
#include <string.h>

static inline uint64_t mix64(uint64_t x)
{
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    x *= 0xd6e8feb86659fd93ull;
    x ^= x >> 32;
    return x;
}

uint64_t lb_hash_bytes(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ mix64(w)) * 0x9fb21c651e98df25ull;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ mix64(w ^ ((uint64_t)n << 56))) * 0x9fb21c651e98df25ull;
    return mix64(h);
}

void lb_strmap_init(lb_strmap *m)
{
    memset(m, 0, sizeof *m);
}

void lb_strmap_free(lb_strmap *m)
{
    free(m->slots);
    free(m->pool);
    lb_strmap_init(m);
}

void lb_strmap_clear(lb_strmap *m)
{
    if (m->slots) memset(m->slots, 0, (m->mask + 1) * sizeof *m->slots);
    m->count = 0;
    m->pool_len = 0;
}

static inline uint32_t slot_hash(uint64_t h)
{
    uint32_t s = (uint32_t)h;
    return s ? s : 1u;
}

static bool grow(lb_strmap *m)
{
    size_t ncap = m->slots ? 2 * (m->mask + 1) : 64;
    lb_strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns) return false;
    for (size_t i = 0; m->slots && i <= m->mask; i++) {
        lb_strmap_slot *s = &m->slots[i];
        if (!s->hash) continue;
        uint64_t h = lb_hash_bytes(m->pool + s->off, s->len);
        size_t j = (size_t)(h >> 32) & (ncap - 1);
        while (ns[j].hash) j = (j + 1) & (ncap - 1);
        ns[j] = *s;
    }
    free(m->slots);
    m->slots = ns;
    m->mask = ncap - 1;
    return true;
}

bool lb_strmap_get(const lb_strmap *m, const char *key, size_t len, int32_t *val)
{
    if (!m->slots) return false;
    uint64_t h = lb_hash_bytes(key, len);
    uint32_t sh = slot_hash(h);
    size_t j = (size_t)(h >> 32) & m->mask;
    for (;;) {
        const lb_strmap_slot *s = &m->slots[j];
        if (!s->hash) return false;
        if (s->hash == sh && s->len == len && memcmp(m->pool + s->off, key, len) == 0) {
            *val = s->val;
            return true;
        }
        j = (j + 1) & m->mask;
    }
}

bool lb_strmap_put(lb_strmap *m, const char *key, size_t len, int32_t val)
{
    if (len > UINT32_MAX) return false;
    if (!m->slots || 2 * (m->count + 1) > m->mask + 1) {
        if (!grow(m)) return false;
    }
    uint64_t h = lb_hash_bytes(key, len);
    uint32_t sh = slot_hash(h);
    size_t j = (size_t)(h >> 32) & m->mask;
    for (;;) {
        lb_strmap_slot *s = &m->slots[j];
        if (!s->hash) break;
        if (s->hash == sh && s->len == len && memcmp(m->pool + s->off, key, len) == 0) {
            s->val = val;
            return true;
        }
        j = (j + 1) & m->mask;
    }
    if (m->pool_len + len > m->pool_cap) {
        size_t ncap = m->pool_cap ? m->pool_cap : 4096;
        while (ncap < m->pool_len + len) ncap *= 2;
        char *np = realloc(m->pool, ncap);
        if (!np) return false;
        m->pool = np;
        m->pool_cap = ncap;
    }
    if (len) memcpy(m->pool + m->pool_len, key, len);
    m->slots[j] = (lb_strmap_slot){.off = m->pool_len, .len = (uint32_t)len, .hash = sh, .val = val};
    m->pool_len += len;
    m->count++;
    return true;
}
