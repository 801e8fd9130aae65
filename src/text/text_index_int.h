/* text_index_int.h - the index struct, shared by index.c and search.c. */
#ifndef RG_TEXT_INDEX_INT_H
#define RG_TEXT_INDEX_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

/* Per-search working memory, sized by the index's document count; kept
 * on a free list so concurrent searches each take their own. */
typedef struct rg__text_scratch {
    struct rg__text_scratch *next;
    float *acc;        /* BM25 sum per document */
    uint16_t *must;    /* required clauses satisfied */
    uint8_t *flag;     /* 1 touched, 2 excluded */
    uint32_t *touched; /* documents with flag & 1 */
    size_t ntouched;
} rg__text_scratch;

struct rg_text_index {
    uint64_t sig;
    uint32_t ndocs, nterms;
    double avgdl;
    uint64_t total_len;
    int64_t *keys;  /* (ndocs,) caller keys */
    uint32_t *dl;   /* (ndocs,) length in tokens */
    uint32_t *str_off, *str_len, *df, *doc_len, *pos_len; /* (nterms,) */
    uint64_t *doc_off, *pos_off;                            /* (nterms,) into blob */
    char *strs;
    size_t strs_len;
    uint8_t *blob;
    size_t blob_len;
    uint32_t *slots; /* open addressing: term id + 1, 0 empty */
    size_t nslots;
    pthread_mutex_t mu; /* guards the scratch free list only */
    rg__text_scratch *free_scratch;
};

/* Term id or UINT32_MAX. */
uint32_t rg__text_index_find(const struct rg_text_index *ix, const char *t, size_t n);
void rg__text_scratch_free_all(struct rg_text_index *ix);

#endif
