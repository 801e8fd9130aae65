/* guard.h - the compliance guard: PII detection and redaction (Chinese and
 * international identifiers), a streaming output filter with word/pattern
 * lists, prompt-injection scoring, and a tamper-evident audit log.
 *
 * Detection is one hand-written pass over UTF-8 text (no regex pile):
 * checksum types (resident ID, USCC, cards, IBAN) are validated, pattern
 * types (phones, email, IPs, ...) use structure plus nearby context words.
 * Spans are byte offsets into the caller's text.  Nothing here keeps a raw
 * value except the per-request pseudonym vault, which exists to restore
 * them and is freed by the caller. */
#ifndef RG_GUARD_H
#define RG_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "core/status.h"

/* X(enum suffix, policy/JSON name, tag, checksum-validated?) — order is
 * the enum order; never renumber (audit logs and stats use the names). */
#define RG_PII_TYPES(X)                              \
    X(CN_ID, "cn_id", "CN_ID", 1)                    \
    X(CN_USCC, "cn_uscc", "CN_USCC", 1)              \
    X(CARD, "card", "CARD", 1)                       \
    X(IBAN, "iban", "IBAN", 1)                       \
    X(CN_MOBILE, "cn_mobile", "CN_MOBILE", 0)        \
    X(CN_LANDLINE, "cn_landline", "CN_LANDLINE", 0)  \
    X(PHONE, "phone", "PHONE", 0)                    \
    X(EMAIL, "email", "EMAIL", 0)                    \
    X(IPV4, "ipv4", "IPV4", 0)                       \
    X(IPV6, "ipv6", "IPV6", 0)                       \
    X(MAC, "mac", "MAC", 0)                          \
    X(CN_PASSPORT, "cn_passport", "CN_PASSPORT", 0)  \
    X(HKMO_PERMIT, "hkmo_permit", "HKMO_PERMIT", 0)  \
    X(CN_PLATE, "cn_plate", "CN_PLATE", 0)           \
    X(URL, "url", "URL", 0)                          \
    X(DOB, "dob", "DOB", 0)                          \
    X(US_SSN, "us_ssn", "US_SSN", 0)                 \
    X(CN_NAME, "cn_name", "CN_NAME", 0)

typedef enum rg_pii_type {
#define RG__PII_ENUM(e, name, tag, ck) RG_PII_##e,
    RG_PII_TYPES(RG__PII_ENUM)
#undef RG__PII_ENUM
        RG_PII__COUNT
} rg_pii_type;

/* "cn_id" etc. (static storage); "unknown" when out of range. */
const char *rg_pii_type_name(rg_pii_type t);
/* Inverse of rg_pii_type_name; -1 when unknown. */
int rg_pii_type_parse(const char *name);
/* 1 for the checksum-validated types. */
int rg_pii_type_checksummed(rg_pii_type t);

typedef struct rg_guard_finding {
    rg_pii_type type;
    size_t start, end; /* byte span [start, end) in the scanned text */
    float confidence;  /* 0..1; checksum types ~0.99, names ~0.6 */
} rg_guard_finding;

typedef struct rg_guard_stats {
    uint32_t count[RG_PII__COUNT]; /* findings acted on, per type */
    uint32_t total;
} rg_guard_stats;

/* What to do with a finding of one type. */
typedef enum rg_guard_op {
    RG_GUARD_OP_MASK = 0, /* keep first/last N chars, '*' for the rest */
    RG_GUARD_OP_TAG,      /* "[CN_ID]" */
    RG_GUARD_OP_HASH,     /* "[CN_ID:hmac16hex]" keyed, stable per key */
    RG_GUARD_OP_PSEUDO,   /* "[CN_ID_1]" + vault entry (restorable) */
    RG_GUARD_OP_DROP,     /* removed */
    RG_GUARD_OP_KEEP      /* detected and counted, text left as is */
} rg_guard_op;

typedef struct rg_guard rg_guard;             /* immutable after open: thread-safe */
typedef struct rg_guard_vault rg_guard_vault; /* per request, one thread */

/* Opens a guard from a policy (JSON text, see docs/guard.md); policy NULL
 * or len 0 gives the default policy.  *out is owned by the caller
 * (rg_guard_free).  Errors name the JSON line/column or the bad key. */
rg_status rg_guard_open(rg_guard **out, const char *policy, size_t len, rg_err *err);
/* Same, reading the policy from a file (capped at RG_GUARD_MAX_POLICY_BYTES). */
rg_status rg_guard_open_file(rg_guard **out, const char *path, rg_err *err);
void rg_guard_free(rg_guard *g);

/* Detects PII in text[0..len).  *out is a malloc'd array of *n findings,
 * sorted by start, non-overlapping (caller frees; NULL when n = 0).  Types
 * disabled by the policy or below its min_confidence are left out. */
rg_status rg_guard_scan(const rg_guard *g, const char *text, size_t len,
                        rg_guard_finding **out, size_t *n, rg_err *err);

/* Detects and rewrites: appends the redacted text to out (which the caller
 * owns; not reset first).  stats (optional) is zeroed then filled.  Types
 * whose op is PSEUDO are tagged like TAG here (no vault). */
rg_status rg_guard_redact(const rg_guard *g, const char *text, size_t len, rg_buf *out,
                          rg_guard_stats *stats);
/* Same with a vault: PSEUDO types become "[TYPE_n]" and the vault records
 * n -> raw value, so rg_guard_vault_restore can undo it on a model's
 * answer.  The same raw value gets the same placeholder within a vault. */
rg_status rg_guard_redact_vault(const rg_guard *g, rg_guard_vault *v, const char *text,
                                size_t len, rg_buf *out, rg_guard_stats *stats);

rg_guard_vault *rg_guard_vault_new(void); /* NULL on OOM; rg_guard_vault_free */
/* Wipes the raw values (memset) before freeing. */
void rg_guard_vault_free(rg_guard_vault *v);
size_t rg_guard_vault_count(const rg_guard_vault *v);
/* Appends text with every known "[TYPE_n]" placeholder replaced by its raw
 * value; unknown placeholders are left as they are. */
rg_status rg_guard_vault_restore(const rg_guard_vault *v, const char *text, size_t len,
                                 rg_buf *out);

/* Findings as JSON: {"findings":[{"type":"cn_id","start":3,"end":21,
 * "confidence":0.99}],"counts":{"cn_id":1}} (never the raw values).
 * Appends to out. */
rg_status rg_guard_findings_json(const rg_guard_finding *f, size_t n, rg_buf *out);
/* Stats as a JSON object {"cn_id":2,...} (only non-zero types). */
rg_status rg_guard_stats_json(const rg_guard_stats *s, rg_buf *out);

/* A core/log.h filter (rg_log_set_filter(rg_guard_log_filter, guard)):
 * redacts one log line with the guard's policy.  ud is the rg_guard.
 * A line whose redaction does not fit cap is cut at a UTF-8 boundary. */
void rg_guard_log_filter(const char *line, char *out, size_t cap, void *ud);

/* ---- output filter: word and pattern lists, streaming ---------------- */

typedef enum rg_filter_action {
    RG_FILTER_FLAG = 0, /* counted, passed through */
    RG_FILTER_MASK,     /* each character replaced by '*' */
    RG_FILTER_BLOCK     /* the stream stops; status RG_DENIED */
} rg_filter_action;

typedef struct rg_filter_list rg_filter_list; /* shared, reloadable, thread-safe */
typedef struct rg_filter rg_filter;           /* one stream, one thread */

/* Loads a list file: one entry per line, "[block|mask|flag] TEXT" (action
 * defaults to flag) or "[action] re:PCRE2" for a pattern; '#' comments.
 * Words match case-insensitively (ASCII).  path NULL gives an empty list. */
rg_status rg_filter_list_open(rg_filter_list **out, const char *path, rg_err *err);
/* Rereads the file when its mtime or size changed since the last load;
 * a bad file keeps the old list and returns the error.  *reloaded (opt.)
 * says whether a new list took effect. */
rg_status rg_filter_list_refresh(rg_filter_list *l, int *reloaded, rg_err *err);
void rg_filter_list_free(rg_filter_list *l);
/* Entries loaded (words + patterns). */
size_t rg_filter_list_size(const rg_filter_list *l);

/* A stream filter over list (borrowed; must outlive the filter) and guard
 * (optional, borrowed: PII in the stream is redacted too).  The filter
 * snapshots the list at creation. */
rg_filter *rg_filter_new(rg_filter_list *l, const rg_guard *g);
void rg_filter_free(rg_filter *f);
/* Feeds one chunk; appends the text that is safe to release to out.  Holds
 * back at most the longest word/pattern window (+ PII window) so a match
 * split across chunks is still caught.  Returns RG_DENIED once a block
 * entry matched (nothing after it is released). */
rg_status rg_filter_feed(rg_filter *f, const char *chunk, size_t len, rg_buf *out);
/* End of stream: releases what was held back (filtered). */
rg_status rg_filter_finish(rg_filter *f, rg_buf *out);
/* Matches so far per action (index rg_filter_action). */
void rg_filter_counts(const rg_filter *f, uint32_t counts[3]);

/* One-shot convenience: filters a whole text (feed + finish). */
rg_status rg_filter_text(rg_filter_list *l, const rg_guard *g, const char *text, size_t len,
                         rg_buf *out, uint32_t counts[3]);

/* ---- prompt-injection heuristics ---------------------------------------- */

typedef struct rg_injection_result {
    float score;       /* 1 - prod(1 - weight) over matched rules, 0..1 */
    int flagged;       /* score >= threshold */
    int nrules;        /* rules matched */
    const char *first; /* name of the strongest matched rule (static) or NULL */
} rg_injection_result;

/* Scores text for instruction-like content (English and Chinese): "ignore
 * previous instructions", "忽略之前的指令", role-play system prompts, chat
 * template markers.  threshold <= 0 uses the default (0.5). */
void rg_guard_injection_check(const char *text, size_t len, float threshold,
                              rg_injection_result *r);

/* ---- audit log ----------------------------------------------------------- */

typedef struct rg_audit rg_audit;

typedef struct rg_audit_record {
    const char *key_id;     /* API key id (never the key), or NULL */
    const char *route;      /* "/v1/chat/completions" */
    const char *collection; /* or NULL */
    const char *const *docs; /* documents cited (ids), ndocs of them */
    size_t ndocs;
    const rg_guard_stats *findings; /* types and counts only, or NULL */
    int status;             /* HTTP status or exit code */
} rg_audit_record;

/* Opens (creates) an append-only audit log.  Each line is a JSON object
 * carrying "prev" (the previous line's hash) and "hash" (SHA-256, or
 * HMAC-SHA-256 with key when keylen > 0, over prev + the line's body).
 * An existing file's last line is checked before appending. */
rg_status rg_audit_open(rg_audit **out, const char *path, const void *key, size_t keylen,
                        rg_err *err);
/* Appends one line (one write(2), then fdatasync).  Thread-safe. */
rg_status rg_audit_append(rg_audit *a, const rg_audit_record *r, rg_err *err);
/* Group commit: with on, rg_audit_append writes its line (one write(2):
 * a crash of the process loses nothing) but leaves the fdatasync to
 * rg_audit_sync, which the owner calls periodically (a power loss can
 * lose the lines since the last sync).  Default off: every append syncs. */
void rg_audit_set_deferred_sync(rg_audit *a, int on);
/* fdatasync when lines were appended since the last one.  Thread-safe. */
rg_status rg_audit_sync(rg_audit *a, rg_err *err);
/* Syncs pending lines and closes. */
void rg_audit_close(rg_audit *a);

/* Verifies the chain of path.  Returns RG_OK with *nlines; on a broken
 * chain returns RG_FORMAT with *bad_line = the first bad line (1-based)
 * and err naming the reason. */
rg_status rg_audit_verify(const char *path, const void *key, size_t keylen, size_t *nlines,
                          size_t *bad_line, rg_err *err);

#endif
