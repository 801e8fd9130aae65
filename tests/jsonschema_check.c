/* jsonschema_check.c - a JSON Schema validator for the subset the grammar
 * compiler supports, and the 20 schemas the constrained-decoding tests use. */
#include <string.h>

#include "jsonschema_check.h"


static int check_type(const char *t, json_t *v) {
    if (!strcmp(t, "object")) return json_is_object(v);
    if (!strcmp(t, "array")) return json_is_array(v);
    if (!strcmp(t, "string")) return json_is_string(v);
    if (!strcmp(t, "integer")) return json_is_integer(v);
    if (!strcmp(t, "number")) return json_is_number(v);
    if (!strcmp(t, "boolean")) return json_is_boolean(v);
    if (!strcmp(t, "null")) return json_is_null(v);
    return 0;
}

int rg_test_schema_validate(json_t *s, json_t *v, json_t *root) {
    if (json_object_size(s) == 0) return 1;
    json_t *x;
    if ((x = json_object_get(s, "$ref"))) {
        const char *r = json_string_value(x);
        return rg_test_schema_validate(json_object_get(json_object_get(root, "$defs"), r + 8), v, root);
    }
    if ((x = json_object_get(s, "const"))) return json_equal(x, v);
    if ((x = json_object_get(s, "enum"))) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (json_equal(e, v)) return 1;
        return 0;
    }
    if ((x = json_object_get(s, "anyOf"))) {
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) if (rg_test_schema_validate(e, v, root)) return 1;
        return 0;
    }
    if ((x = json_object_get(s, "type"))) {
        int ok = 0;
        if (json_is_string(x)) ok = check_type(json_string_value(x), v);
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e) ok |= check_type(json_string_value(e), v);
        if (!ok) return 0;
    }
    if (json_is_object(v) && (x = json_object_get(s, "properties"))) {
        const char *k;
        json_t *val;
        json_object_foreach(v, k, val) {
            json_t *ps = json_object_get(x, k);
            if (!ps || !rg_test_schema_validate(ps, val, root)) return 0;
        }
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(s, "required"), i, r) if (!json_object_get(v, json_string_value(r))) return 0;
    }
    if (json_is_array(v)) {
        json_t *it = json_object_get(s, "items");
        size_t i;
        json_t *e;
        if (it) json_array_foreach(v, i, e) if (!rg_test_schema_validate(it, e, root)) return 0;
        json_t *mn = json_object_get(s, "minItems"), *mx = json_object_get(s, "maxItems");
        if (mn && json_array_size(v) < (size_t)json_integer_value(mn)) return 0;
        if (mx && json_array_size(v) > (size_t)json_integer_value(mx)) return 0;
    }
    if (json_is_string(v)) {
        const char *str = json_string_value(v);
        size_t n = 0, len = json_string_length(v);
        for (size_t i = 0; i < len; i++) n += ((unsigned char)str[i] & 0xC0) != 0x80;
        json_t *mn = json_object_get(s, "minLength"), *mx = json_object_get(s, "maxLength");
        if (mn && n < (size_t)json_integer_value(mn)) return 0;
        if (mx && n > (size_t)json_integer_value(mx)) return 0;
    }
    return 1;
}

const char *const rg_test_schemas[20] = {
    "{\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\"}, \"age\": {\"type\": \"integer\"}}, \"required\": [\"name\", \"age\"]}",
    "{\"type\": \"array\", \"items\": {\"type\": \"number\"}, \"minItems\": 1, \"maxItems\": 4}",
    "{\"enum\": [\"red\", \"green\", \"blue\", 42, null]}",
    "{\"const\": {\"ok\": true}}",
    "{\"type\": \"boolean\"}",
    "{\"type\": [\"string\", \"null\"]}",
    "{\"type\": \"object\", \"properties\": {\"id\": {\"type\": \"integer\"}, \"tags\": {\"type\": \"array\", \"items\": {\"type\": \"string\", \"maxLength\": 8}, \"maxItems\": 3}}, \"required\": [\"id\"]}",
    "{\"type\": \"object\", \"properties\": {\"a\": {\"type\": \"null\"}, \"b\": {\"type\": \"boolean\"}}}",
    "{\"type\": \"string\", \"minLength\": 2, \"maxLength\": 5}",
    "{\"anyOf\": [{\"type\": \"integer\"}, {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"number\"}}, \"required\": [\"x\"]}]}",
    "{\"type\": \"array\", \"items\": {\"type\": \"object\", \"properties\": {\"k\": {\"enum\": [\"a\", \"b\"]}}, \"required\": [\"k\"]}, \"maxItems\": 3}",
    "{}",
    "{\"type\": \"object\"}",
    "{\"type\": \"array\", \"maxItems\": 0}",
    "{\"$defs\": {\"pt\": {\"type\": \"object\", \"properties\": {\"x\": {\"type\": \"integer\"}, \"y\": {\"type\": \"integer\"}}, \"required\": [\"x\", \"y\"]}}, \"type\": \"array\", \"items\": {\"$ref\": \"#/$defs/pt\"}, \"maxItems\": 2}",
    "{\"type\": \"object\", \"properties\": {\"user\": {\"type\": \"object\", \"properties\": {\"name\": {\"type\": \"string\", \"maxLength\": 10}, \"admin\": {\"type\": \"boolean\"}}, \"required\": [\"name\"]}}, \"required\": [\"user\"]}",
    "{\"type\": \"integer\"}",
    "{\"type\": \"number\"}",
    "{\"type\": \"array\", \"items\": {\"const\": 1}, \"minItems\": 2, \"maxItems\": 2}",
    "{\"type\": \"object\", \"properties\": {\"p\": {\"type\": \"string\"}, \"q\": {\"type\": \"integer\"}, \"r\": {\"type\": \"boolean\"}}, \"required\": [\"q\"]}",
};

