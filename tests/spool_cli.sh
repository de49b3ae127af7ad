#!/bin/sh
# `intake spool`: help texts, usage errors (2), unknown ids and missing spools (1), a busy
# spool (75), and what stats, list, show, retry and purge print, on an empty spool and on
# one seeded through `intake submit` and `intake run --until-idle`. Listings must never
# show message text, subject, author or source id.
# usage: spool_cli.sh PATH/TO/intake
set -u
intake=$1
tmp=$(mktemp -d "${TMPDIR:-/tmp}/spool_cli.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
out=$tmp/out
fail=0
check() { # check WANT_STATUS DESCRIPTION COMMAND...
    want=$1; what=$2; shift 2
    "$@" >"$out" 2>&1 </dev/null
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, wanted $want"; cat "$out"; fail=1
    fi
}
has() { # has DESCRIPTION PATTERN: the last output matches the extended regex
    grep -Eq -- "$2" "$out" || { echo "FAIL: $1: no match for '$2' in:"; cat "$out"; fail=1; }
}
lacks() { # lacks DESCRIPTION PATTERN
    ! grep -Eq -- "$2" "$out" || { echo "FAIL: $1: '$2' found in:"; cat "$out"; fail=1; }
}

db=$tmp/s.db
S="--spool $db"

# ---- help and usage ----
check 0 "spool --help" "$intake" spool --help
has "spool --help lists the commands" "purge --older-than DAYS"
check 0 "spool help" "$intake" spool help
for c in stats list show retry purge; do
    check 0 "spool $c --help" "$intake" spool $c --help
    has "spool $c --help" "^usage: intake spool $c"
    check 0 "spool $c -h without a spool" "$intake" spool $c -h
done
check 2 "spool without a command" "$intake" spool
check 2 "spool unknown command" "$intake" spool frobnicate $S
check 2 "stats without --config or --spool" "$intake" spool stats
check 2 "stats with both --config and --spool" "$intake" spool stats $S --config "$tmp/x.conf"
check 2 "stats unknown option" "$intake" spool stats $S --bogus
check 2 "stats --text does not apply" "$intake" spool stats $S --text
check 2 "stats extra argument" "$intake" spool stats $S extra
check 2 "--spool without its value" "$intake" spool stats --spool
check 2 "list --limit 0" "$intake" spool list $S --limit 0
check 2 "list --limit abc" "$intake" spool list $S --limit abc
check 2 "list --limit 1.5" "$intake" spool list $S --limit=1.5
check 2 "show without an id" "$intake" spool show $S
check 2 "show with two ids" "$intake" spool show $S 0123abcd 4567abcd
check 2 "retry without an id or --all-dead" "$intake" spool retry $S
check 2 "retry with an id and --all-dead" "$intake" spool retry 0123abcd --all-dead $S
check 2 "purge without --older-than" "$intake" spool purge $S
check 2 "purge --older-than -1" "$intake" spool purge $S --older-than -1
check 2 "purge --older-than soon" "$intake" spool purge $S --older-than soon

# ---- no spool there: nothing is created ----
check 1 "stats of a missing spool" "$intake" spool stats --spool "$tmp/none.db"
has "missing spool message" "no spool at"
[ ! -e "$tmp/none.db" ] || { echo "FAIL: stats created a spool"; fail=1; }
check 1 "a config that does not load" "$intake" spool stats --config "$tmp/none.conf"

# ---- an empty spool (an empty file is an empty SQLite database) ----
: >"$db"
check 0 "stats of an empty spool" "$intake" spool stats $S
has "stats counts items" "^items: +0 new, 0 processed, 0 quarantined"
has "stats counts deliveries" "^deliveries: +0 pending, 0 done, 0 dead"
has "stats oldest" "^oldest undelivered: none"
check 0 "stats --json of an empty spool" "$intake" spool stats $S --json
has "stats --json" '^\{"items":\{"new":0,"processed":0,"quarantined":0\}'
has "stats --json oldest" '"oldest_undelivered":null'
check 0 "list of an empty spool" "$intake" spool list $S
has "list header" "^RECORD ID +RECEIVED +SOURCE +CHANNEL +STATE +CATEGORY +DELIVERIES"
has "list count" "^-- 0 items"
check 0 "list --json of an empty spool" "$intake" spool list $S --json
[ -s "$out" ] && { echo "FAIL: list --json of an empty spool printed something"; fail=1; }
check 1 "list --state unknown" "$intake" spool list $S --state bogus
has "list --state unknown says why" "unknown state"
check 1 "show of an unknown id" "$intake" spool show ffffffff-0000 $S
has "unknown id message" "no item has a record id starting with 'ffffffff-0000'"
check 1 "show of a too short id" "$intake" spool show ff $S
check 1 "retry of an unknown id" "$intake" spool retry ffffffff $S
check 0 "retry --all-dead of an empty spool" "$intake" spool retry --all-dead $S
has "retry --all-dead count" "^0 dead deliveries re-queued"
check 0 "purge of an empty spool" "$intake" spool purge --older-than 30 $S
has "purge count" "^0 items deleted"
check 0 "options before the command, --opt=value" "$intake" spool --spool="$db" purge \
    --older-than=0.5

# ---- a busy spool: reads go on, writes get 75 ----
if python3 -c 'import sqlite3' 2>/dev/null; then
    python3 - "$db" "$tmp/locked" <<'EOF' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN IMMEDIATE")
open(sys.argv[2], "w").close()
time.sleep(12)
EOF
    holder=$!
    i=0
    while [ ! -e "$tmp/locked" ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    # WAL readers are not blocked by a writer: stats still answers; a write must wait
    check 0 "stats while another process writes" "$intake" spool stats $S
    check 75 "purge of a locked spool" "$intake" spool purge --older-than 1 $S
    has "locked spool message" "locked|busy"
    kill "$holder" 2>/dev/null
    wait "$holder" 2>/dev/null
else
    echo "note: no python3 sqlite3 module: busy-spool check skipped"
fi

# ---- a spool seeded through submit and run ----
cat >"$tmp/intake.conf" <<EOF
[spool]
path = seeded.db

[http]
enabled = no

[source "mta"]
type = pipe
channel = email

[sink "archive"]
type = jsonl
path = archive.jsonl

[sink "crm"]
type = http
url = http://127.0.0.1:9/intake
max_attempts = 1
timeout = 5
EOF
C="--config $tmp/intake.conf"
seed() { # seed N: one item through intake submit
    printf '{"id":"<m%s@mail.example.org>","channel":"email","subject":"SUBJECT-%s",%s}\n' \
        "$1" "$1" '"body":"BODYTEXT the roof leaks","from":{"name":"AUTHORNAME","address":"someone@example.net"}' |
        "$intake" submit $C --source mta >"$out" 2>&1 ||
        { echo "FAIL: submit $1"; cat "$out"; fail=1; }
}
if "$intake" submit --help >/dev/null 2>&1; then
    seed 1
    seed 2
    check 0 "stats of a seeded spool" "$intake" spool stats $C
    has "stats of new items" "^items: +2 new, 0 processed, 0 quarantined"
    has "stats oldest age" "^oldest undelivered: [0-9T:.-]+Z \([0-9]+s ago\)"
    check 0 "list of new items" "$intake" spool list $C
    has "list count" "^-- 2 items"
    has "list row" "^[0-9a-f-]{36}  [0-9T:.-]+Z +mta +email +new +- +-$"
    lacks "list leaks nothing" "BODYTEXT|SUBJECT-|AUTHORNAME|someone@|mail\.example"
    check 0 "list --json" "$intake" spool list $C --json
    lacks "list --json leaks nothing" "BODYTEXT|SUBJECT-|AUTHORNAME|someone@|mail\.example"
    has "list --json rows" '^\{"record_id":"[0-9a-f-]{36}".*"state":"new","category":null'
    check 0 "list --limit 1" "$intake" spool list $C --limit 1
    has "list --limit 1" "^-- 1 item$"
    id=$("$intake" spool list $C --json --limit 1 | sed 's/^{"record_id":"\([^"]*\)".*/\1/')
    short=$(printf %s "$id" | cut -c1-30 | tr a-f A-F)
    check 0 "show by an upper-case prefix" "$intake" spool show "$short" $C
    has "show gives the full id" "\"record_id\": \"$id\""
    has "show gives the source id" '"source_id": "<m2@mail.example.org>"'
    lacks "show without --text" "BODYTEXT|SUBJECT-|AUTHORNAME|someone@"
    check 0 "show --text" "$intake" spool show "$id" --text $C
    has "show --text gives the body" '"body": "BODYTEXT the roof leaks"'

    if "$intake" run --help 2>&1 | grep -q -- --until-idle; then
        check 0 "run --until-idle" "$intake" run $C --until-idle
        check 0 "stats after the run" "$intake" spool stats $C
        has "processed" "^items: +0 new, 2 processed, 0 quarantined"
        has "per-sink counts" "^  sink crm +0 pending, 0 done, 2 dead"
        has "per-sink counts" "^  sink archive +0 pending, 2 done, 0 dead"
        check 0 "list --state dead" "$intake" spool list $C --state dead
        has "dead rows" "^-- 2 items"
        has "deliveries column" "(archive:done,crm:dead|crm:dead,archive:done)$"
        check 0 "show a dead delivery" "$intake" spool show "$id" $C
        has "dead delivery shown" '"state": "dead"'
        check 0 "retry one" "$intake" spool retry "$id" $C
        has "retry one count" "^$id: 1 re-queued"
        check 0 "retry one again" "$intake" spool retry "$id" $C
        has "nothing left" "nothing to retry"
        check 0 "list --state pending" "$intake" spool list $C --state pending
        has "one pending" "^-- 1 item$"
        check 0 "retry --all-dead" "$intake" spool retry --all-dead $C
        has "retry --all-dead count" "^1 dead delivery re-queued"
        check 0 "purge keeps undelivered items" "$intake" spool purge --older-than 0 $C
        has "purge count" "^0 items deleted"
    else
        echo "note: no 'intake run --until-idle': delivery checks skipped"
    fi
else
    echo "note: no 'intake submit': seeded-spool checks skipped"
fi
exit $fail
