/* gguf.h - GGUF v2/v3 model files: a validating, memory-mapped reader and
 * a writer.
 *
 * The reader checks every count, length, offset and size against the file
 * size (overflow-checked) before using or allocating by it; a bad file
 * gives RG_FORMAT with a message naming the field, its value and the
 * limit.  Tensor data is never copied: rg_gguf_tensor.data points into the
 * map and stays valid until rg_gguf_close.  Metadata strings are copied
 * into the handle NUL-terminated (GGUF strings are not). */
#ifndef RG_GGUF_H
#define RG_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/status.h"
#include "gguf/dtype.h"

/* Metadata value types (GGUF numbering). */
typedef enum rg_gguf_type {
    RG_GGUF_UINT8 = 0,
    RG_GGUF_INT8 = 1,
    RG_GGUF_UINT16 = 2,
    RG_GGUF_INT16 = 3,
    RG_GGUF_UINT32 = 4,
    RG_GGUF_INT32 = 5,
    RG_GGUF_FLOAT32 = 6,
    RG_GGUF_BOOL = 7,
    RG_GGUF_STRING = 8,
    RG_GGUF_ARRAY = 9,
    RG_GGUF_UINT64 = 10,
    RG_GGUF_INT64 = 11,
    RG_GGUF_FLOAT64 = 12
} rg_gguf_type;

typedef struct rg_gguf rg_gguf;

typedef struct rg_gguf_tensor {
    const char *name;   /* NUL-terminated, owned by the handle */
    rg_dtype type;
    int n_dims;         /* 1..4 */
    int64_t ne[4];      /* ne[0] = row length (input features); unused dims = 1 */
    uint64_t offset;    /* from the start of the data section */
    uint64_t nbytes;
    const void *data;   /* into the map; valid until rg_gguf_close */
} rg_gguf_tensor;

/* ---- reading ---- */

/* Maps and validates path.  On success *out owns the map (close with
 * rg_gguf_close).  On failure *out is NULL and err says why. */
rg_status rg_gguf_open(const char *path, rg_gguf **out, rg_err *err);
/* Same over a caller-owned buffer that must outlive the handle (fuzzing,
 * tests).  data must be 32-byte aligned for tensors to be aligned. */
rg_status rg_gguf_open_memory(const void *data, size_t size, rg_gguf **out, rg_err *err);
void rg_gguf_close(rg_gguf *g);

uint32_t rg_gguf_version(const rg_gguf *g);
uint32_t rg_gguf_alignment(const rg_gguf *g);
uint64_t rg_gguf_file_size(const rg_gguf *g);

/* Metadata: keys by index [0, n_kv) or by name. */
int64_t rg_gguf_n_kv(const rg_gguf *g);
const char *rg_gguf_kv_key(const rg_gguf *g, int64_t i);
rg_gguf_type rg_gguf_kv_type(const rg_gguf *g, int64_t i);
/* Index of key, or -1 when absent. */
int64_t rg_gguf_find_kv(const rg_gguf *g, const char *key);

/* Typed getters by key.  Return true and write *out when the key exists
 * and its value converts without loss (any integer type to an integer
 * within range; f32/f64 to float; bool).  false when absent or not
 * convertible (the caller decides whether that is an error). */
bool rg_gguf_get_u32(const rg_gguf *g, const char *key, uint32_t *out);
bool rg_gguf_get_i64(const rg_gguf *g, const char *key, int64_t *out);
bool rg_gguf_get_f32(const rg_gguf *g, const char *key, float *out);
bool rg_gguf_get_bool(const rg_gguf *g, const char *key, bool *out);
/* NUL-terminated string owned by the handle, or NULL. *len (if non-NULL)
 * gets the byte length (strings may contain NUL). */
const char *rg_gguf_get_str(const rg_gguf *g, const char *key, size_t *len);

/* Arrays: element type and count of the array at key; false when the key
 * is absent or not an array.  Nested arrays report RG_GGUF_ARRAY. */
bool rg_gguf_get_arr(const rg_gguf *g, const char *key, rg_gguf_type *elem, uint64_t *n);
/* Element i of a string array (NUL-terminated, owned by the handle). */
const char *rg_gguf_arr_str(const rg_gguf *g, const char *key, uint64_t i, size_t *len);
/* Element i of a numeric array converted to double / int64 (bool -> 0/1);
 * false when out of range or not numeric. */
bool rg_gguf_arr_f64(const rg_gguf *g, const char *key, uint64_t i, double *out);
bool rg_gguf_arr_i64(const rg_gguf *g, const char *key, uint64_t i, int64_t *out);

/* Tensors by index [0, n) or by name (NULL when absent). */
int64_t rg_gguf_n_tensors(const rg_gguf *g);
const rg_gguf_tensor *rg_gguf_tensor_at(const rg_gguf *g, int64_t i);
const rg_gguf_tensor *rg_gguf_find_tensor(const rg_gguf *g, const char *name);

/* ---- additions (inspect, tokenizer) ---- */

/* "u32", "str", "arr", ...; static storage. */
const char *rg_gguf_type_name(rg_gguf_type t);
/* File offset of the data section (tensor offsets are relative to it). */
uint64_t rg_gguf_data_offset(const rg_gguf *g);
/* Array info of kv i (by index); false when i is not an array. */
bool rg_gguf_kv_arr(const rg_gguf *g, int64_t i, rg_gguf_type *elem, uint64_t *n);
/* Element i of the string array at kv index kv (no key lookup: for loops
 * over large arrays); NULL when out of range or not a string array. */
const char *rg_gguf_kv_arr_str(const rg_gguf *g, int64_t kv, uint64_t i, size_t *len);
/* Raw little-endian elements of a numeric array (pointer into the file,
 * valid until rg_gguf_close, possibly unaligned: read with memcpy); NULL
 * when key is absent or not an array of numbers/bools. */
const void *rg_gguf_arr_data(const rg_gguf *g, const char *key, rg_gguf_type *elem, uint64_t *n);
/* Appends kv i's value as JSON to out (strings escaped; arrays show at
 * most max_elems elements then "... N more"). */
struct rg_buf;
rg_status rg_gguf_kv_format(const rg_gguf *g, int64_t i, size_t max_elems, struct rg_buf *out);

/* ---- writing ---- */

typedef struct rg_gguf_writer rg_gguf_writer;

/* A writer collects metadata and tensors, then writes a GGUF v3 file
 * (alignment 32 unless general.alignment is set) that llama.cpp reads.
 * Values are copied; tensor data is referenced and must stay valid until
 * rg_gguf_writer_write returns. */
rg_gguf_writer *rg_gguf_writer_new(void);
void rg_gguf_writer_free(rg_gguf_writer *w);
rg_status rg_gguf_writer_set_u32(rg_gguf_writer *w, const char *key, uint32_t v);
rg_status rg_gguf_writer_set_i32(rg_gguf_writer *w, const char *key, int32_t v);
rg_status rg_gguf_writer_set_u64(rg_gguf_writer *w, const char *key, uint64_t v);
rg_status rg_gguf_writer_set_f32(rg_gguf_writer *w, const char *key, float v);
rg_status rg_gguf_writer_set_bool(rg_gguf_writer *w, const char *key, bool v);
rg_status rg_gguf_writer_set_str(rg_gguf_writer *w, const char *key, const char *v);
rg_status rg_gguf_writer_set_arr_str(rg_gguf_writer *w, const char *key, const char *const *v,
                                     uint64_t n);
rg_status rg_gguf_writer_set_arr_i32(rg_gguf_writer *w, const char *key, const int32_t *v,
                                     uint64_t n);
rg_status rg_gguf_writer_set_arr_f32(rg_gguf_writer *w, const char *key, const float *v,
                                     uint64_t n);
/* Copies every metadata key of src (e.g. for quantize). */
rg_status rg_gguf_writer_copy_kv(rg_gguf_writer *w, const rg_gguf *src);
/* ne[0] = row length.  nbytes must equal the size implied by type/ne. */
rg_status rg_gguf_writer_add_tensor(rg_gguf_writer *w, const char *name, rg_dtype type,
                                    int n_dims, const int64_t *ne, const void *data,
                                    uint64_t nbytes);
/* Writes atomically (temp file + rename). */
rg_status rg_gguf_writer_write(rg_gguf_writer *w, const char *path, rg_err *err);
/* Appends the same bytes to out, which should be empty (tests, fuzzing,
 * small files).  For rg_gguf_open_memory's tensors to be aligned, out's
 * data must be (malloc gives 16 bytes; copy when 32 matters). */
struct rg_buf;
rg_status rg_gguf_writer_write_buf(rg_gguf_writer *w, struct rg_buf *out, rg_err *err);

#endif
