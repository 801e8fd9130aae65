/* cache.c - response cache for deterministic requests: a hash table of
 * 32-byte digests over a doubly linked LRU list, each entry with an
 * expiry time.  One mutex: lookups are rare next to generation. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "server/server_int.h"

typedef struct entry {
    uint8_t key[32];
    char *value;
    double expires;
    struct entry *lru_prev, *lru_next; /* head = most recent */
    struct entry *hnext;
} entry;

struct rg__cache {
    pthread_mutex_t mu;
    entry **table;
    size_t nbuckets;
    entry *head, *tail;
    int n, cap;
    int ttl_s;
};

rg__cache *rg__cache_new(int entries, int ttl_s) {
    rg__cache *c = calloc(1, sizeof *c);
    if (!c) return NULL;
    c->cap = entries;
    c->ttl_s = ttl_s > 0 ? ttl_s : 1;
    c->nbuckets = 16;
    while (c->nbuckets < (size_t)entries * 2) c->nbuckets *= 2;
    c->table = calloc(c->nbuckets, sizeof *c->table);
    if (!c->table) {
        free(c);
        return NULL;
    }
    pthread_mutex_init(&c->mu, NULL);
    return c;
}

static size_t bucket(const rg__cache *c, const uint8_t key[32]) {
    uint64_t h;
    memcpy(&h, key, 8);
    return (size_t)(h & (c->nbuckets - 1));
}

static void lru_unlink(rg__cache *c, entry *e) {
    if (e->lru_prev) e->lru_prev->lru_next = e->lru_next;
    else c->head = e->lru_next;
    if (e->lru_next) e->lru_next->lru_prev = e->lru_prev;
    else c->tail = e->lru_prev;
    e->lru_prev = e->lru_next = NULL;
}

static void lru_push(rg__cache *c, entry *e) {
    e->lru_next = c->head;
    e->lru_prev = NULL;
    if (c->head) c->head->lru_prev = e;
    c->head = e;
    if (!c->tail) c->tail = e;
}

static void remove_entry(rg__cache *c, entry *e) {
    entry **pp = &c->table[bucket(c, e->key)];
    while (*pp && *pp != e) pp = &(*pp)->hnext;
    if (*pp) *pp = e->hnext;
    lru_unlink(c, e);
    free(e->value);
    free(e);
    c->n--;
}

static entry *find(rg__cache *c, const uint8_t key[32]) {
    for (entry *e = c->table[bucket(c, key)]; e; e = e->hnext)
        if (!memcmp(e->key, key, 32)) return e;
    return NULL;
}

char *rg__cache_get(rg__cache *c, const uint8_t key[32]) {
    if (!c) return NULL;
    char *out = NULL;
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, key);
    if (e && e->expires < rg_now_s()) {
        remove_entry(c, e);
        e = NULL;
    }
    if (e) {
        lru_unlink(c, e);
        lru_push(c, e);
        out = strdup(e->value);
    }
    pthread_mutex_unlock(&c->mu);
    return out;
}

void rg__cache_put(rg__cache *c, const uint8_t key[32], const char *value) {
    if (!c || !value) return;
    char *v = strdup(value);
    if (!v) return;
    pthread_mutex_lock(&c->mu);
    entry *e = find(c, key);
    if (e) {
        free(e->value);
        e->value = v;
        lru_unlink(c, e);
    } else {
        while (c->n >= c->cap && c->tail) remove_entry(c, c->tail);
        e = calloc(1, sizeof *e);
        if (!e) {
            free(v);
            pthread_mutex_unlock(&c->mu);
            return;
        }
        memcpy(e->key, key, 32);
        e->value = v;
        size_t b = bucket(c, key);
        e->hnext = c->table[b];
        c->table[b] = e;
        c->n++;
    }
    e->expires = rg_now_s() + c->ttl_s;
    lru_push(c, e);
    pthread_mutex_unlock(&c->mu);
}

void rg__cache_free(rg__cache *c) {
    if (!c) return;
    while (c->head) remove_entry(c, c->head);
    free(c->table);
    pthread_mutex_destroy(&c->mu);
    free(c);
}
