#!/bin/sh
# The command line: every command answers --help, and misuse gives exit status 2.
# usage: cli.sh PATH/TO/intake
set -u
intake=$1
fail=0
check() { # check WANT_STATUS DESCRIPTION COMMAND...
    want=$1; what=$2; shift 2
    "$@" >/tmp/intake-cli.$$ 2>&1 </dev/null
    got=$?
    if [ "$got" != "$want" ]; then
        echo "FAIL: $what: exit $got, wanted $want"; cat /tmp/intake-cli.$$; fail=1
    fi
}
check 0 "intake --help" "$intake" --help
check 0 "intake help" "$intake" help
check 0 "intake version" "$intake" version
check 0 "classify --help" "$intake" classify --help
check 0 "rules --help" "$intake" rules --help
check 0 "rules check --help" "$intake" rules check --help
check 2 "no command" "$intake"
check 2 "unknown command" "$intake" frobnicate
check 2 "classify --redact bad" "$intake" classify --redact sometimes
check 2 "classify extra argument" "$intake" classify extra
check 2 "rules unknown subcommand" "$intake" rules frob
check 1 "classify with a missing rules folder" "$intake" classify --rules /nonexistent
check 1 "rules check of a missing folder" "$intake" rules check /nonexistent
"$intake" --help | grep -q "classify" || { echo "FAIL: --help does not list classify"; fail=1; }
"$intake" version | grep -Eq '^intake [0-9]+\.[0-9]+' || { echo "FAIL: version format"; fail=1; }
# An empty input gives an empty output and success.
out=$("$intake" classify </dev/null) && [ -z "$out" ] || { echo "FAIL: empty input"; fail=1; }
rm -f /tmp/intake-cli.$$
exit $fail
