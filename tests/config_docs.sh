#!/bin/sh
# The README's configuration reference must be exactly what `intake config keys --markdown`
# prints, so that every key of every section, source type and sink type is documented.
#
# usage: config_docs.sh [--update] [PATH/TO/intake [PATH/TO/README.md]]
#   (defaults: build/intake and README.md of this checkout)
#
# Without --update it fails, showing the difference, when the block between the lines
# <!-- config-keys:begin --> and <!-- config-keys:end --> differs. With --update it
# rewrites that block: run `tests/config_docs.sh --update` after changing an option table.
set -u
update=0
if [ "${1:-}" = "--update" ]; then
    update=1
    shift
fi
top=$(cd "$(dirname "$0")/.." && pwd)
intake=${1:-$top/build/intake}
readme=${2:-$top/README.md}
begin='<!-- config-keys:begin -->'
end='<!-- config-keys:end -->'
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if ! "$intake" config keys --markdown >"$tmp/keys.md"; then
    echo "FAIL: $intake config keys --markdown failed"
    exit 1
fi
nb=$(grep -cxF "$begin" "$readme")
ne=$(grep -cxF "$end" "$readme")
if [ "$nb" != 1 ] || [ "$ne" != 1 ]; then
    echo "FAIL: $readme needs exactly one line '$begin' and one '$end'"
    exit 1
fi

# The README with its block replaced by the generated one.
awk -v begin="$begin" -v end="$end" -v keys="$tmp/keys.md" '
    $0 == begin { print; while ((getline line < keys) > 0) print line; skip = 1; next }
    $0 == end { skip = 0 }
    !skip { print }
' "$readme" >"$tmp/README.md" || exit 1

if cmp -s "$readme" "$tmp/README.md"; then
    exit 0
fi
if [ "$update" = 1 ]; then
    cat "$tmp/README.md" >"$readme" && echo "updated the configuration reference in $readme"
    exit $?
fi
echo "FAIL: the configuration reference in $readme is not what 'intake config keys"
echo "--markdown' prints. Run: tests/config_docs.sh --update (after building), then commit."
diff -u "$readme" "$tmp/README.md"
exit 1
