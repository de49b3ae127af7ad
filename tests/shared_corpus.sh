#!/bin/sh
# Scores the shared development corpus when it exists beside this checkout; skips (exit
# 77, which ctest reports as skipped) when it does not. Two scorers, both must pass:
# - tests/score_labelled.py: categories and flags (macro-F1 >= 0.90, every flag F1 >= 0.80);
# - the corpus's own score.py: personal-data redaction, issue 3's targets (recall >= 0.97,
#   byte precision >= 0.92).
# usage: shared_corpus.sh PATH/TO/intake CORPUS_DIR
intake=$1
dir=$2
if [ ! -f "$dir/messages.dev.jsonl" ]; then
    echo "SKIP: no shared corpus at $dir (this test needs ../shared/corpus)"
    exit 77
fi
here=$(dirname "$0")
status=0
python3 "$here/score_labelled.py" "$dir/messages.dev.jsonl" \
    --min-macro-f1 0.90 --min-flag-f1 0.80 -- \
    "$intake" classify --redact all || status=$?
echo "--- personal data (score.py)"
python3 "$dir/score.py" "$dir/messages.dev.jsonl" \
    --min-pii-recall 0.97 --min-pii-precision 0.92 -- \
    "$intake" classify --redact all || { s=$?; [ "$s" -gt "$status" ] && status=$s; }
exit $status
