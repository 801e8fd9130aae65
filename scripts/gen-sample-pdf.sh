#!/bin/bash
# Regenerates samples/en/aurora-x2-warranty.pdf (committed) with cairo.
set -e
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
cc -std=c11 -Wall -Wextra -o "$tmp/gen_sample_pdf" scripts/gen_sample_pdf.c $(pkg-config --cflags --libs cairo)
"$tmp/gen_sample_pdf" samples/en/aurora-x2-warranty.pdf
rm -rf "$tmp"
echo "wrote samples/en/aurora-x2-warranty.pdf"
