/* rag_int.h - internals shared by the files of rag/. */
#ifndef RG_RAG_INT_H
#define RG_RAG_INT_H

#include "rag/rag.h"

/* Read-locks the handle's index (rg__rag_unlock releases); *a gets the analyzer. */
const rg_text_index *rg__rag_index_rdlock(rg_rag *r, const rg_text_analyzer **a);
void rg__rag_unlock(rg_rag *r);
rg_store *rg__rag_store(rg_rag *r);

/* The question with Chinese interrogative words replaced by spaces
 * (malloc'd; NULL when out of memory). */
char *rg__rag_question_clean(const char *q);

/* DIR/index/vec-<cid>.vec */
void rg__rag_vec_path(const char *dir, int64_t cid, char *out, size_t cap);
/* Writes ix to DIR/index/hnsw-<cid>.idx (a failure is logged: derived data). */
void rg__rag_vec_index_save(const char *data_dir, int64_t cid, rg_index *ix);

#endif
