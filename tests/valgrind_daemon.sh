#!/bin/sh
# The daemon under valgrind: the README's demonstration (drop folder -> spool -> jsonl
# sink, --until-idle) and `intake submit` (JSON and --format eml), with leak checks. Any
# valgrind error fails.
# usage: valgrind_daemon.sh VALGRIND INTAKE FIXTURES
set -eu
valgrind=$1 intake=$2 fixtures=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$fixtures/demo" "$tmp/demo"
vg="$valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect"
printf '{"id":"vg-1","channel":"email","body":"The boiler is broken again."}' |
    $vg "$intake" submit --config "$tmp/demo/intake.ini" --source mta >/dev/null
for m in outlook-reply dsn-bounce; do # e-mail through the MIME parser
    $vg "$intake" submit --config "$tmp/demo/intake.ini" --source mta --format eml \
        <"$fixtures/mime/$m.eml" >/dev/null
done
$vg "$intake" run --config "$tmp/demo/intake.ini" --until-idle >"$tmp/summary.txt"
n=$(wc -l <"$tmp/demo/records.jsonl")
[ "$n" -eq 15 ] || { echo "expected 15 records, got $n"; exit 1; }
grep -q "15 processed" "$tmp/summary.txt" || { cat "$tmp/summary.txt"; exit 1; }
grep -q '"automated":"delivery_report"' "$tmp/demo/records.jsonl" ||
    { echo "the bounce is not marked automated"; exit 1; }
echo "daemon clean under valgrind: $n records"
