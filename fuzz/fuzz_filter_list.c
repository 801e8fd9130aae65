/* fuzz_filter_list.c - the output-filter list parser and the streaming
 * filter on hostile input: the first half of the input is the list file,
 * the second half is fed as a stream in small chunks. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "guard/guard.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    size_t half = size / 2;
    char path[] = "/tmp/ragd-fuzz-list-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) return 0;
    if (write(fd, data, half) != (ssize_t)half) {
        close(fd);
        unlink(path);
        return 0;
    }
    close(fd);
    rg_filter_list *l;
    rg_err err;
    rg_status st = rg_filter_list_open(&l, path, &err);
    unlink(path);
    if (st) return 0;
    rg_guard *g;
    if (rg_guard_open(&g, NULL, 0, &err)) abort();
    rg_filter *f = rg_filter_new(l, (size & 1) ? g : NULL);
    if (!f) abort();
    rg_buf out;
    rg_buf_init(&out, 0);
    const char *s = (const char *)data + half;
    size_t n = size - half, p = 0;
    while (p < n && st == RG_OK) {
        size_t step = 1 + (s[p] & 7);
        if (step > n - p) step = n - p;
        st = rg_filter_feed(f, s + p, step, &out);
        p += step;
    }
    if (st == RG_OK) st = rg_filter_finish(f, &out);
    if (st != RG_OK && st != RG_DENIED) abort();
    rg_buf_free(&out);
    rg_filter_free(f);
    rg_guard_free(g);
    rg_filter_list_free(l);
    return 0;
}
