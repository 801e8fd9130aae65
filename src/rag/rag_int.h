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

#endif
