#!/bin/bash
# CLI basics: --help, --version, exit codes.
set -u
B=${RAGD_BIN:-./ragd}
fail=0
"$B" --help | grep -q "usage: ragd" || { echo "--help"; fail=1; }
"$B" --version | grep -q "^ragd " || { echo "--version"; fail=1; }
"$B" no-such-command 2>/dev/null; [ $? -eq 2 ] || { echo "unknown command exit code"; fail=1; }
"$B" 2>/dev/null; [ $? -eq 2 ] || { echo "no command exit code"; fail=1; }
exit $fail
