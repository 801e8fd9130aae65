/* tok.h - tokenizers of GGUF models, bit-exact with llama.cpp:
 * SentencePiece-style BPE (tokenizer.ggml.model = "llama"), byte-level BPE
 * ("gpt2", pre-tokenizer regexes chosen by tokenizer.ggml.pre) and
 * WordPiece ("bert").
 *
 * A handle is immutable after rg_tok_from_gguf: every function here may be
 * called from many threads at once on one handle (each encode call uses
 * only its own scratch memory).  The handle copies what it needs from the
 * GGUF, so the GGUF may be closed after loading. */
#ifndef RG_TOK_H
#define RG_TOK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"
#include "gguf/gguf.h"

typedef struct rg_tok rg_tok;

typedef enum rg_tok_kind {
    RG_TOK_SPM = 1, /* "llama": SentencePiece BPE with byte fallback */
    RG_TOK_BPE = 2, /* "gpt2": byte-level BPE */
    RG_TOK_WPM = 3  /* "bert": WordPiece */
} rg_tok_kind;

/* Token types as stored in tokenizer.ggml.token_type. */
typedef enum rg_tok_type {
    RG_TOKTYPE_UNDEFINED = 0,
    RG_TOKTYPE_NORMAL = 1,
    RG_TOKTYPE_UNKNOWN = 2,
    RG_TOKTYPE_CONTROL = 3,
    RG_TOKTYPE_USER_DEFINED = 4,
    RG_TOKTYPE_UNUSED = 5,
    RG_TOKTYPE_BYTE = 6
} rg_tok_type;

/* Encode flags. */
#define RG_TOK_ADD_SPECIAL 1u   /* BOS/EOS (or CLS/SEP) as the model's flags say */
#define RG_TOK_PARSE_SPECIAL 2u /* control tokens written in the text ("<|im_start|>") become
                                   their ids; without it they are tokenized as plain text.
                                   User-defined tokens always match (as in llama.cpp). */

/* Builds the tokenizer of g (tokenizer.ggml.* keys).  RG_FORMAT when the
 * keys are missing, inconsistent or out of limits; the message names the
 * key.  On success *out is owned by the caller (rg_tok_free). */
rg_status rg_tok_from_gguf(const rg_gguf *g, rg_tok **out, rg_err *err);
void rg_tok_free(rg_tok *t);

/* Tokenizes text[0..len) (UTF-8; invalid bytes are handled as llama.cpp
 * does).  add_special adds BOS/EOS per the model; special tokens in the
 * text are parsed (RG_TOK_PARSE_SPECIAL).  On success *ids is a malloc'd
 * array the caller frees (non-NULL even when *n == 0). */
rg_status rg_tok_encode(const rg_tok *t, const char *text, size_t len, bool add_special,
                        int32_t **ids, size_t *n, rg_err *err);
/* Same with explicit RG_TOK_* flags (llama.cpp's test vectors use 0). */
rg_status rg_tok_encode_ex(const rg_tok *t, const char *text, size_t len, unsigned flags,
                           int32_t **ids, size_t *n, rg_err *err);

/* The bytes token id stands for: NORMAL tokens with "▁" -> " " (SPM/WPM) or
 * the GPT-2 byte mapping undone (BPE); BYTE tokens their single byte;
 * CONTROL/UNKNOWN/USER_DEFINED tokens their text.  Owned by the handle,
 * not NUL-terminated in general (may contain NUL).  NULL when id is out of
 * range. */
const char *rg_tok_piece(const rg_tok *t, int32_t id, size_t *len);
/* The token's raw vocabulary text (NUL-terminated, owned by the handle). */
const char *rg_tok_text(const rg_tok *t, int32_t id);
/* Appends the text of ids to out: pieces concatenated, CONTROL and UNKNOWN
 * tokens skipped, and for SPM vocabularies with add_space_prefix the space
 * the encoder prepended removed from the first piece.  So
 * decode(encode(s)) == s for SPM and BPE vocabularies when s has no
 * special-token text.  RG_INVALID for an out-of-range id. */
rg_status rg_tok_decode(const rg_tok *t, const int32_t *ids, size_t n, rg_buf *out);

int32_t rg_tok_n_vocab(const rg_tok *t);
rg_tok_kind rg_tok_kind_of(const rg_tok *t);
/* "spm", "bpe", "wpm". */
const char *rg_tok_kind_name(const rg_tok *t);
/* tokenizer.ggml.pre ("default" when absent). */
const char *rg_tok_pre(const rg_tok *t);
rg_tok_type rg_tok_type_of(const rg_tok *t, int32_t id);
float rg_tok_score(const rg_tok *t, int32_t id);

/* Special ids, -1 when the model has none.  For BERT, bos = CLS and
 * eos = SEP. */
int32_t rg_tok_bos(const rg_tok *t);
int32_t rg_tok_eos(const rg_tok *t);
int32_t rg_tok_eot(const rg_tok *t);
int32_t rg_tok_unk(const rg_tok *t);
int32_t rg_tok_pad(const rg_tok *t);
int32_t rg_tok_sep(const rg_tok *t);
bool rg_tok_add_bos(const rg_tok *t);
bool rg_tok_add_eos(const rg_tok *t);
/* End of generation: EOS, EOT, EOM and the control tokens llama.cpp treats
 * as such by their text (<|eot_id|>, <|im_end|>, <|end|>, <end_of_turn>,
 * <|endoftext|>, <|eom_id|>, <EOT>). */
bool rg_tok_is_eog(const rg_tok *t, int32_t id);
/* CONTROL or UNKNOWN: not rendered by rg_tok_decode. */
bool rg_tok_is_control(const rg_tok *t, int32_t id);

#endif
