/* arena.h - bump allocator for per-request and per-parse work.
 *
 * Allocations live until rg_arena_reset or rg_arena_free; there is no
 * per-object free.  Memory is zeroed. A cap bounds the total. */
#ifndef RG_CORE_ARENA_H
#define RG_CORE_ARENA_H

#include <stddef.h>

typedef struct rg_arena_block rg_arena_block;
typedef struct rg_arena {
    rg_arena_block *head;
    size_t used_total; /* bytes handed out since the last reset */
    size_t cap;        /* 0 = unlimited */
} rg_arena;

/* cap = 0 for no limit.  The arena struct is owned by the caller. */
void rg_arena_init(rg_arena *a, size_t cap);
/* Returns zeroed memory aligned to 16 bytes, or NULL when over the cap or
 * out of memory. Valid until reset/free. */
void *rg_arena_alloc(rg_arena *a, size_t n);
/* n*size with overflow check. */
void *rg_arena_calloc(rg_arena *a, size_t n, size_t size);
char *rg_arena_strdup(rg_arena *a, const char *s);
char *rg_arena_strndup(rg_arena *a, const char *s, size_t n);
/* Keeps the first block, drops the rest. */
void rg_arena_reset(rg_arena *a);
void rg_arena_free(rg_arena *a);

#endif
