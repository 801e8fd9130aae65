/* version.c - the library version (see include/ragd.h). */
#include "ragd.h"

const char *rg_version(void) { return RAGD_VERSION; }
