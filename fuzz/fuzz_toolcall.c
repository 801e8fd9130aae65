/* fuzz_toolcall.c - the parser of tool calls in model output
 * (src/server/toolcall.c) in all three formats on hostile text: never
 * crashes or reads out of bounds; every call it returns names a function
 * of `tools`, has an id "call_..." and arguments that are a JSON object
 * (abort() otherwise); the content end lies within the text. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/server_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static json_t *tools;
    if (!tools)
        tools = json_loads("[{\"type\":\"function\",\"function\":{\"name\":\"ping\"}},"
                           "{\"type\":\"function\",\"function\":{\"name\":\"get_weather\"}}]",
                           0, NULL);
    for (int fmt = 0; fmt < 3; fmt++) {
        size_t cend;
        json_t *calls = rg__tools_parse(fmt, tools, (const char *)data, size, &cend);
        if (cend > size) abort();
        size_t i;
        json_t *c;
        json_array_foreach(calls, i, c) {
            json_t *f = json_object_get(c, "function");
            const char *name = json_string_value(json_object_get(f, "name"));
            const char *id = json_string_value(json_object_get(c, "id"));
            if (!name || (strcmp(name, "ping") && strcmp(name, "get_weather"))) abort();
            if (!id || strncmp(id, "call_", 5)) abort();
            json_t *a = json_loads(json_string_value(json_object_get(f, "arguments")), 0, NULL);
            if (!json_is_object(a)) abort();
            json_decref(a);
        }
        if (calls && json_array_size(calls) == 0) abort();
        json_decref(calls);
    }
    return 0;
}
