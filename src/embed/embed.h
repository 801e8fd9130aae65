/* embed.h - BERT-family sentence encoder (MiniLM, BGE, E5 shapes) over a
 * GGUF file: WordPiece tokens -> absolute position embeddings -> post-norm
 * encoder layers (GELU) -> mean or CLS pooling -> L2 normalisation.
 *
 * Many short texts run as one packed batch: their tokens are concatenated
 * into one matrix for every matmul (no padding work) and attention is
 * computed within each text's own span. */
#ifndef RG_EMBED_H
#define RG_EMBED_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

typedef struct rg_embedder rg_embedder;

/* Loads path (arch "bert"); weights stay in the mmap.  n_threads <= 0:
 * all CPUs.  *out is owned by the caller (rg_embed_close). */
rg_status rg_embed_open(const char *path, int n_threads, rg_embedder **out, rg_err *err);
void rg_embed_close(rg_embedder *e);
int rg_embed_dim(const rg_embedder *e);
/* Max tokens per text (the model's context); longer texts are truncated. */
int rg_embed_max_tokens(const rg_embedder *e);

/* Embeds n texts into out (n x dim floats, caller-allocated), pooled and
 * L2-normalised (normalize = 0 keeps the raw pooled vectors).  One call
 * at a time per handle (it owns scratch memory); lock or use one handle
 * per thread. */
rg_status rg_embed_texts(rg_embedder *e, const char *const *texts, const size_t *lens, int n,
                         int normalize, float *out, rg_err *err);
/* Same from token ids (already with [CLS] ... [SEP]). */
rg_status rg_embed_tokens(rg_embedder *e, const int32_t *const *ids, const int *n_ids, int n,
                          int normalize, float *out, rg_err *err);

#endif
