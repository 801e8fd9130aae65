/* fuzz_html.c - the html parser and the chunker on arbitrary bytes (see fuzz_ingest.h). */
#include "fuzz_ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) { return rg_fuzz_ingest(RG_DOC_HTML, data, size); }
