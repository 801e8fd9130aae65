/* limits.h - every hard limit of ragd in one place.  Parsers check input
 * against these before allocating; raise them here, nowhere else. */
#ifndef RG_CORE_LIMITS_H
#define RG_CORE_LIMITS_H

#define RG_MAX_FILE_BYTES        (1ull << 31)   /* one ingested document */
#define RG_MAX_LINE_BYTES        (1u << 20)     /* one CLI input line */
#define RG_MAX_JSON_BYTES        (16u << 20)    /* one JSON request body */
#define RG_MAX_HTTP_BODY_BYTES   (64u << 20)    /* one uploaded file */
#define RG_MAX_QUERY_BYTES       (8u << 10)     /* one search query */
#define RG_MAX_QUERY_TERMS       256
#define RG_MAX_CHUNK_BYTES       (64u << 10)
#define RG_MAX_TOP_K             1000
#define RG_MAX_THREADS           256

/* GGUF */
#define RG_GGUF_MAX_KV           (1u << 20)
#define RG_GGUF_MAX_TENSORS      (1u << 20)
#define RG_GGUF_MAX_STRING       (1u << 30)
#define RG_GGUF_MAX_ARRAY        (1ull << 32)
#define RG_GGUF_MAX_DIMS         4
#define RG_GGUF_MAX_NAME         256            /* tensor name bytes */
#define RG_GGUF_MAX_KEY          65535          /* metadata key bytes */
#define RG_GGUF_MAX_ALIGNMENT    (1u << 16)     /* general.alignment */

/* models */
#define RG_MAX_VOCAB             (1u << 22)
#define RG_MAX_CTX               (1u << 20)
#define RG_MAX_LAYERS            1024
#define RG_MAX_TOKEN_BYTES       (1u << 16)

#endif
