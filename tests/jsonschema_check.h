/* jsonschema_check.h - test-side JSON Schema validation (see .c). */
#ifndef RG_TESTS_JSONSCHEMA_CHECK_H
#define RG_TESTS_JSONSCHEMA_CHECK_H

#include <jansson.h>

/* 1 when v validates against schema s (root resolves $ref). */
int rg_test_schema_validate(json_t *s, json_t *v, json_t *root);
extern const char *const rg_test_schemas[20];

#endif
