/* file.h - whole-file reads with a cap, crash-safe writes, read-only maps. */
#ifndef RG_CORE_FILE_H
#define RG_CORE_FILE_H

#include <stddef.h>

#include "core/status.h"

/* Reads path into a malloc'd NUL-terminated buffer (caller frees). Fails
 * with RG_LIMIT when the file is larger than cap bytes. */
rg_status rg_file_read(const char *path, size_t cap, char **data, size_t *len, rg_err *err);
/* Writes to path.tmp.<pid>, fsyncs, renames over path, fsyncs the dir:
 * a crash leaves either the old or the new file, never a torn one. */
rg_status rg_file_write_atomic(const char *path, const void *data, size_t len, rg_err *err);
/* mkdir -p. */
rg_status rg_mkdirs(const char *path, rg_err *err);

typedef struct rg_map {
    const unsigned char *data; /* read-only view of the file */
    size_t size;
} rg_map;
/* Maps path read-only. An empty file gives data NULL, size 0. */
rg_status rg_map_open(rg_map *m, const char *path, rg_err *err);
void rg_map_close(rg_map *m);

#endif
