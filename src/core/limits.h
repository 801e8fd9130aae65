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

/* ingest (parsers treat every file as hostile) */
#define RG_INGEST_MAX_BYTES      (256u << 20)   /* one file handed to a parser */
#define RG_INGEST_MAX_TEXT       (256u << 20)   /* extracted text of one document */
#define RG_INGEST_MAX_BLOCKS     (4u << 20)     /* blocks of one document */
#define RG_INGEST_MAX_CHUNKS     (4u << 20)     /* chunks of one document */
#define RG_INGEST_MAX_HEADING    1024           /* bytes of one heading path */
#define RG_INGEST_MAX_DEPTH      256            /* html/md element nesting walked */
#define RG_INGEST_MAX_PDF_PAGES  20000
#define RG_INGEST_MAX_CSV_COLS   4096
#define RG_INGEST_MAX_FILES      (1u << 22)     /* files of one `ragd ingest` run */
#define RG_INGEST_MAX_WALK_DEPTH 64             /* directory recursion */

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
#define RG_TOK_MAX_TEXT          (1u << 29)     /* one rg_tok_encode call */
#define RG_LLM_MAX_EMBD          (1 << 16)      /* hidden size */
#define RG_LLM_MAX_HEADS         1024
#define RG_LLM_MAX_HEAD_DIM      1024
#define RG_LLM_MAX_FF            (1 << 20)
#define RG_LLM_MAX_BATCH         8192           /* tokens per decode step */
#define RG_LLM_MAX_SEQ           1024           /* sequences per context */
#define RG_PLAN_MAX_LOGIT_ROWS   (1u << 24)     /* scored positions in a saved base-logits file */

/* guard */
#define RG_GUARD_MAX_POLICY_BYTES  (1u << 20)   /* one policy JSON file */
#define RG_GUARD_MAX_LIST_BYTES    (8u << 20)   /* one word/pattern list file */
#define RG_GUARD_MAX_LIST_ENTRIES  100000
#define RG_GUARD_MAX_WORD_BYTES    256          /* one list word (also the stream hold-back) */
#define RG_GUARD_MAX_TAG_BYTES     64           /* one replacement tag */
#define RG_GUARD_MAX_FINDINGS      (1u << 24)   /* findings in one scan */
#define RG_GUARD_STREAM_HOLD       512          /* max bytes a stream filter holds back */
#define RG_AUDIT_MAX_LINE_BYTES    (64u << 10)  /* one audit log line */

/* vector index */
#define RG_INDEX_MAX_DIM         65536
#define RG_INDEX_MAX_M           256        /* HNSW links per node (upper layers) */
#define RG_INDEX_MAX_EF          100000
#define RG_INDEX_MAX_LEVEL       32
#define RG_INDEX_MAX_NODES       (1ull << 31)
#define RG_VECS_MAX_BYTES        (1ull << 36)  /* one .fvecs/.ivecs file */

/* tools and structured output */
#define RG_MAX_TOOLS             64         /* functions in one request's "tools" */
#define RG_MAX_TOOL_CALLS        16         /* calls in one assistant turn */
#define RG_MAX_TOOL_ROUNDS       16         /* server-run tool loop (--tool-rounds cap) */
#define RG_MAX_TOOL_RESULT_BYTES (64u << 10) /* one built-in tool's result given to the model */

#endif
