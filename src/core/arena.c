/* arena.c - see arena.h.  Blocks are a singly linked list, newest first. */
#include "core/arena.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct rg_arena_block {
    rg_arena_block *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

#define RG_ARENA_BLOCK 65536

void rg_arena_init(rg_arena *a, size_t cap) {
    a->head = NULL;
    a->used_total = 0;
    a->cap = cap;
}

void *rg_arena_alloc(rg_arena *a, size_t n) {
    if (n > SIZE_MAX - 32) return NULL;
    n = (n + 15) & ~(size_t)15;
    if (a->cap && (n > a->cap || a->used_total > a->cap - n)) return NULL;
    rg_arena_block *b = a->head;
    if (!b || b->size - b->used < n) {
        size_t sz = n > RG_ARENA_BLOCK ? n : RG_ARENA_BLOCK;
        b = malloc(sizeof *b + sz);
        if (!b) return NULL;
        b->size = sz;
        b->used = 0;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    a->used_total += n;
    memset(p, 0, n);
    return p;
}

void *rg_arena_calloc(rg_arena *a, size_t n, size_t size) {
    if (size && n > SIZE_MAX / size) return NULL;
    return rg_arena_alloc(a, n * size);
}

char *rg_arena_strndup(rg_arena *a, const char *s, size_t n) {
    char *p = rg_arena_alloc(a, n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *rg_arena_strdup(rg_arena *a, const char *s) { return rg_arena_strndup(a, s, strlen(s)); }

void rg_arena_reset(rg_arena *a) {
    rg_arena_block *b = a->head;
    if (!b) return;
    rg_arena_block *rest = b->next;
    while (rest) {
        rg_arena_block *n = rest->next;
        free(rest);
        rest = n;
    }
    b->next = NULL;
    b->used = 0;
    a->used_total = 0;
}

void rg_arena_free(rg_arena *a) {
    rg_arena_block *b = a->head;
    while (b) {
        rg_arena_block *n = b->next;
        free(b);
        b = n;
    }
    a->head = NULL;
    a->used_total = 0;
}
