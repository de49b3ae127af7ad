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
# Redaction: --redact all replaces personal data and lists the spans; the default
# (public) leaves a private item alone; none leaves everything alone.
item='{"id":"r1","channel":"x","public":false,"body":"ring 07700 900123"}'
out=$(echo "$item" | "$intake" classify --redact all)
echo "$out" | grep -q '"redacted_body":"ring \[PHONE\]","redactions":\[{"type":"phone","start":5,"end":17}\]' ||
    { echo "FAIL: classify --redact all: $out"; fail=1; }
out=$(echo "$item" | "$intake" classify)
echo "$out" | grep -q '"redacted_body":"ring 07700 900123","redactions":\[\]' ||
    { echo "FAIL: classify (public) redacted a private item: $out"; fail=1; }
out=$(echo "$item" | sed 's/false/true/' | "$intake" classify --redact none)
echo "$out" | grep -q '"redactions":\[\]' || { echo "FAIL: --redact none: $out"; fail=1; }
# A broken pattern file: classify and rules check refuse it and say where.
bad=$(mktemp -d /tmp/intake-cli-rules.XXXXXX)
cp -r "$(dirname "$0")/../rules/." "$bad/"
printf 'detector BROKEN\n describe x\n type phone\n pattern /(/\n example+ a => a\n example- b\n' > "$bad/redact/99-broken.pii"
check 1 "rules check with a broken pattern file" "$intake" rules check "$bad"
grep -q '99-broken.pii:4: detector BROKEN: bad pattern' /tmp/intake-cli.$$ ||
    { echo "FAIL: rules check does not say where the broken pattern is"; fail=1; }
check 1 "classify --redact all with a broken pattern file" "$intake" classify --rules "$bad" --redact all
check 0 "classify --redact none does not need the redactor" "$intake" classify --rules "$bad" --redact none
rm -rf "$bad"
rm -f /tmp/intake-cli.$$
exit $fail
