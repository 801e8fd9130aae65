/* fuzz_ingest.h - the shared body of the parser fuzz targets: parse bytes
 * as one document type, chunk the result, and check the invariants (no
 * crash/leak, every chunk non-empty, <= the chunk size, valid UTF-8). */
#ifndef RG_FUZZ_INGEST_H
#define RG_FUZZ_INGEST_H

#include <stdint.h>
#include <stdlib.h>

#include "core/utf8.h"
#include "ingest/ingest.h"

static int rg_fuzz_ingest(rg_doc_type type, const uint8_t *data, size_t size) {
    if (size > (1u << 20)) return 0;
    rg_parsed p;
    rg_err err;
    if (rg_ingest_parse(type, (const char *)data, size, &p, &err) == RG_OK) {
        rg_chunk_opts o = {64 + (size % 7) * 50, size % 31};
        rg_chunks c;
        if (rg_ingest_chunk(&p, &o, &c, &err) == RG_OK) {
            for (size_t i = 0; i < c.n; i++)
                if (!c.items[i].len || c.items[i].len > o.size ||
                    !rg_utf8_valid(c.items[i].text, c.items[i].len))
                    abort();
        }
        rg_chunks_free(&c);
    }
    rg_parsed_free(&p);
    return 0;
}

#endif
