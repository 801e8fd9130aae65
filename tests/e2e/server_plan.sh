#!/bin/bash
# /v1/plan/predict and /v1/plan/cost with curl: POST (the CLI's options /
# cost config as JSON) and GET (query arguments) answer with exactly the
# object `ragd predict --json` / `ragd cost --json` prints for the same
# input; only the served model can be named; bad input is a 400 naming the
# field.
set -u
. tests/e2e/server_common.bash
command -v curl >/dev/null && command -v jq >/dev/null || { echo "skip: curl and jq are needed"; exit 77; }
FX=${RAGD_SHARED:-../shared}/fixtures/models
D=$TMP/plan
mkdir -p "$D/data"
# a hand-written profile (no calibration in the test: it would take seconds)
cat >"$D/data/profile.json" <<'P'
{"version": 1, "name": "test-box", "profiles": [
 {"threads": 1, "bandwidth_gbs": 10, "attn_gflops": 20,
  "types": {"f16": {"decode_gbs": 8, "prefill_gflops": 40}, "q8_0": {"decode_gbs": 7, "prefill_gflops": 30},
            "f32": {"decode_gbs": 9, "prefill_gflops": 30}, "q4_k": {"decode_gbs": 6, "prefill_gflops": 25}}},
 {"threads": 2, "bandwidth_gbs": 16, "attn_gflops": 40,
  "types": {"f16": {"decode_gbs": 14, "prefill_gflops": 80}, "q8_0": {"decode_gbs": 12, "prefill_gflops": 60},
            "f32": {"decode_gbs": 15, "prefill_gflops": 60}, "q4_k": {"decode_gbs": 10, "prefill_gflops": 50}}}]}
P
M=
[ -f "$FX/tiny-llama-q8_0.gguf" ] && M="$FX/tiny-llama-q8_0.gguf"
start_server plan --data "$D/data" ${M:+-m "$M"} || exit 1

same() { # same WHAT A B : two JSON texts are equal objects
    if [ "$(jq -S . <<<"$2")" != "$(jq -S . <<<"$3")" ]; then
        fail "$1: server and CLI differ"; diff <(jq -S . <<<"$2") <(jq -S . <<<"$3") | head; fi
}

# predict for a model you don't have
req POST /v1/plan/predict -d '{"params": 7e9, "type": "q4_k", "threads": 2, "prompt": 256, "gen": 64}'
expect 200 "predict params" '"tg_tokens_per_s"'
cli=$("$B" predict --params 7e9 --type q4_k -t 2 --prompt 256 --gen 64 --profile "$D/data/profile.json" --json)
same "predict params (POST)" "$BODY" "$cli"
req GET "/v1/plan/predict?params=7e9&type=q4_k&threads=2&prompt=256&gen=64"
expect 200 "predict GET"
same "predict params (GET)" "$BODY" "$cli"
# with load simulation
req POST /v1/plan/predict -d '{"params": 1e9, "type": "q8_0", "threads": 1, "qps": 0.2, "concurrency": 4, "p99_goal": 60000}'
expect 200 "predict under load" '"max_qps_at_p99_goal"'
cli=$("$B" predict --params 1e9 --type q8_0 -t 1 --qps 0.2 --concurrency 4 --p99-goal 60000 --profile "$D/data/profile.json" --json)
same "predict under load" "$BODY" "$cli"
# inline profile wins over the data dir's
req POST /v1/plan/predict -d '{"params": 1e9, "type": "q8_0", "threads": 1, "profile": {"profiles": [{"threads": 1, "bandwidth_gbs": 100, "types": {"q8_0": {"decode_gbs": 100, "prefill_gflops": 1000}}}]}}'
expect 200 "inline profile"
fast=$(jq .tg_tokens_per_s <<<"$BODY")
slow=$(jq .tg_tokens_per_s <<<"$cli")
awk "BEGIN { exit !($fast > 5 * $slow) }" || fail "inline profile not used ($fast vs $slow)"

if [ -n "$M" ]; then
    req POST /v1/plan/predict -d '{"model": "tiny-llama-q8_0.gguf", "threads": 1}'
    expect 200 "predict the served model" '"memory_bytes"'
    cli=$("$B" predict -m "$M" -t 1 --profile "$D/data/profile.json" --json | jq '.model = "tiny-llama-q8_0.gguf"')
    same "predict served model" "$BODY" "$cli"
fi
req POST /v1/plan/predict -d '{"model": "/etc/passwd"}'; expect 404 "other paths refused" '"model_not_found"'
req POST /v1/plan/predict -d '{"params": 7e9}'; expect 400 "params without type"
req POST /v1/plan/predict -d '{"params": 7e9, "type": "q4_k", "threads": 0}'; expect 400 "threads 0" 'threads'
req POST /v1/plan/predict -d '{"params": 7e9, "type": "q4_k", "bogus": 1}'; expect 400 "unknown key" 'bogus'
req POST /v1/plan/predict -d '{"params": 7e9, "type": "q9"}'; expect 400 "bad type" 'type'
req POST /v1/plan/predict -d '{"params":'; expect 400 "truncated JSON"
req DELETE /v1/plan/predict; expect 405 "DELETE on predict"

# cost: POST the config the CLI reads, and GET with flat keys
cfg=docs/examples/cost.json
req POST /v1/plan/cost -H 'Content-Type: application/json' --data-binary @"$cfg"
expect 200 "cost POST" '"self_per_month"'
same "cost" "$BODY" "$("$B" cost --config "$cfg" --json)"
req GET "/v1/plan/cost?price_per_hour=0.1&utilization=0.5&gen_tokens_per_s=50&prompt_tokens_per_s=500&tokens_in=1000&tokens_out=100&requests_per_day=1000&api=x&api_in_per_1k=0.001&api_out_per_1k=0.002"
expect 200 "cost GET"
# hand-worked (tests/test_plan.c): 2.4 per 1k requests self-hosted, API 1.2, break-even 2000/day
jq -e '(.self_per_1k_requests - 2.4 | fabs) < 1e-9 and (.apis[0].per_1k_requests - 1.2 | fabs) < 1e-9
        and (.apis[0].breakeven_requests_per_day - 2000 | fabs) < 1e-6' <<<"$BODY" >/dev/null \
    || fail "cost GET numbers: $BODY"
req GET "/v1/plan/cost?price_per_hour=abc"; expect 400 "cost non-number" 'price_per_hour'
req GET "/v1/plan/cost?nope=1"; expect 400 "cost unknown key" 'nope'
req POST /v1/plan/cost -d '{"hardware": {"price_per_hour": 1}, "throughput": {"gen_tokens_per_s": 0}, "workload": {}}'
expect 400 "cost zero throughput" 'throughput'
echo "server_plan: $FAILS failure(s)"
[ "$FAILS" = 0 ]
