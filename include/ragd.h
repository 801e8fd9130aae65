/* ragd.h - the public C API of ragd.
 *
 * ragd is a library first (like SQLite): the CLI and the HTTP server are
 * its first two clients.  This header gathers the stable entry points;
 * each module keeps its own header under src/<module>/. */
#ifndef RAGD_H
#define RAGD_H

#define RAGD_VERSION "0.1.0"
#define RAGD_VERSION_NUM 100

#include "core/status.h"

/* Version string of the linked library; static storage. */
const char *rg_version(void);

#endif
