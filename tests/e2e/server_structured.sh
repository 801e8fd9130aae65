#!/bin/bash
# response_format on POST /v1/chat/completions with a local model of random
# weights (only the grammar can make its output valid): json_object and
# json_schema requests (several schemas, temperature 1, streamed and not)
# must come back as JSON that parses and validates against the schema
# (tests/e2e/lib/jsonschema.js).  Requests go through curl; node validates.
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null || { echo "skip: curl not installed"; exit 77; }
command -v node >/dev/null || { echo "skip: node not installed (the validator)"; exit 77; }
M=${RAGD_SHARED:-../shared}/fixtures/models
[ -f "$M/tiny-llama-q8_0.gguf" ] || { echo "skip: $M/tiny-llama-q8_0.gguf absent"; exit 77; }
D=$TMP/structured
mkdir -p "$D"
VALIDATE="node $PWD/tests/e2e/lib/check_response.js"

# schemas: name -> schema
declare -A S
S[person]='{"type":"object","properties":{"name":{"type":"string","maxLength":12},"age":{"type":"integer"}},"required":["name","age"]}'
S[enum]='{"type":"object","properties":{"color":{"enum":["red","green","blue"]},"ok":{"type":"boolean"}},"required":["color","ok"]}'
S[array]='{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string","maxLength":6},"minItems":1,"maxItems":3}},"required":["tags"]}'
S[nested]='{"type":"object","properties":{"point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]},"label":{"type":["string","null"],"maxLength":8}},"required":["point","label"]}'
S[anyof]='{"type":"object","properties":{"v":{"anyOf":[{"type":"integer"},{"const":"none"}]}},"required":["v"]}'
S[list]='{"type":"array","items":{"type":"integer"},"minItems":2,"maxItems":4}'
S[optional]='{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"string","maxLength":5}},"required":["a"]}'
S[defs]='{"$defs":{"item":{"type":"object","properties":{"id":{"type":"integer"}},"required":["id"]}},"type":"object","properties":{"items":{"type":"array","items":{"$ref":"#/$defs/item"},"maxItems":2}},"required":["items"]}'

run_model() { # MODEL REPEAT N_JSON_OBJECT
    local model=$1 rep=$2 nobj=$3 n=0
    start_server "st-$(basename "$model" .gguf)" --data "$D/data-$(basename "$model" .gguf)" -m "$model" || return 1
    for name in "${!S[@]}"; do
        for i in $(seq 1 "$rep"); do
            for stream in $STREAMS; do
                local body out=$D/$name.$i.$stream.out
                body="{\"messages\":[{\"role\":\"user\",\"content\":\"Give me $name\"}],\"temperature\":1,\"seed\":$((i * 7 + ${#name})),\"max_tokens\":96,\"stream\":$stream,\"response_format\":{\"type\":\"json_schema\",\"json_schema\":{\"name\":\"$name\",\"schema\":${S[$name]}}}}"
                curl -s -m 60 "$URL/v1/chat/completions" -d "$body" >"$out"
                $VALIDATE "$out" "${S[$name]}" "$stream" || fail "$(basename "$model") $name #$i stream=$stream"
                n=$((n + 1))
            done
        done
    done
    for i in $(seq 1 "$nobj"); do # json_object: any object
        local out=$D/obj.$i.out
        curl -s -m 60 "$URL/v1/chat/completions" -d "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":1,\"seed\":$i,\"max_tokens\":64,\"response_format\":{\"type\":\"json_object\"}}" >"$out"
        $VALIDATE "$out" '{"type":"object"}' false || fail "$(basename "$model") json_object #$i"
        n=$((n + 1))
    done
    # a schema the compiler refuses is a 400 naming the problem
    req POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"schema":{"type":"object","properties":{"a":{"$ref":"#/nowhere"}}}}}}'
    expect 400 "bad schema refused" "invalid_schema"
    req POST /v1/chat/completions -d '{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}'
    expect 400 "unknown response_format type refused" "response_format"
    echo "$(basename "$model"): $n constrained generations validated"
    stop_servers
}
STREAMS="false true"
run_model "$M/tiny-llama-q8_0.gguf" 1 2
# BPE with a 32k vocabulary (masks over the whole vocabulary are costly)
if [ -f "$M/tiny-qwen2-q4_k.gguf" ]; then
    S=([nested]="${S[nested]}")
    STREAMS=false
    run_model "$M/tiny-qwen2-q4_k.gguf" 1 0
fi
[ $FAILS -eq 0 ] || { echo "$FAILS failure(s)"; exit 1; }
echo "server_structured: all checks passed"
