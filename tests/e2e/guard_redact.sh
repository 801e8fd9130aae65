#!/bin/bash
# ragd redact: raw values never reach stdout, --json gives types and spans
# only, --policy changes operators, bad policies are usage-clear errors.
set -u
B=${RAGD_BIN:-./ragd}
T=${RAGD_TEST_TMP:-$(mktemp -d)}
fail=0
in="身份证11010519491231002X，手机 138 0013 8000，邮箱 li.lei@example.com，卡号 6222 0212 3456 7890 128，IP 10.20.30.40"
raws=("11010519491231002X" "138 0013 8000" "li.lei@example.com" "10.20.30.40")
out=$(printf '%s' "$in" | "$B" redact) || { echo "redact exit $?"; fail=1; }
for r in "${raws[@]}"; do
    case "$out" in *"$r"*) echo "raw value '$r' in output: $out"; fail=1 ;; esac
done
case "$out" in *"110***********002X"*) ;; *) echo "mask format: $out"; fail=1 ;; esac
json=$(printf '%s' "$in" | "$B" redact --json) || { echo "redact --json exit"; fail=1; }
case "$json" in *'"type":"cn_id","start":9,"end":27'*) ;; *) echo "json spans: $json"; fail=1 ;; esac
for r in "${raws[@]}"; do
    case "$json" in *"$r"*) echo "raw value '$r' in json"; fail=1 ;; esac
done
echo '{"types":{"email":{"op":"tag","tag":"<邮箱>"},"cn_mobile":{"op":"drop"}}}' > "$T/p.json"
out=$(printf '%s' "$in" | "$B" redact --policy "$T/p.json")
case "$out" in *"<邮箱>"*) ;; *) echo "policy tag: $out"; fail=1 ;; esac
case "$out" in *"手机 ，"*) ;; *) echo "policy drop: $out"; fail=1 ;; esac
echo '{"types":{"email":{"op":"zap"}}}' > "$T/bad.json"
err=$(printf 'x' | "$B" redact --policy "$T/bad.json" 2>&1 >/dev/null); rc=$?
[ $rc -eq 1 ] || { echo "bad policy exit $rc"; fail=1; }
case "$err" in *bad.json*types.email.op*) ;; *) echo "bad policy message: $err"; fail=1 ;; esac
"$B" redact --nope </dev/null 2>/dev/null; [ $? -eq 2 ] || { echo "usage exit"; fail=1; }
exit $fail
