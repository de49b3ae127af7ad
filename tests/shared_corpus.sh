#!/bin/sh
# Scores the shared development corpus when it exists beside this checkout; skips (exit
# 77, which ctest reports as skipped) when it does not.
# usage: shared_corpus.sh PATH/TO/intake CORPUS_DIR
intake=$1
dir=$2
if [ ! -f "$dir/messages.dev.jsonl" ]; then
    echo "SKIP: no shared corpus at $dir (this test needs ../shared/corpus)"
    exit 77
fi
here=$(dirname "$0")
exec python3 "$here/score_labelled.py" "$dir/messages.dev.jsonl" \
    --min-macro-f1 0.90 --min-flag-f1 0.80 -- \
    "$intake" classify --redact all
