#!/usr/bin/env bash
# Builds promtool from the pinned Go module github.com/prometheus/prometheus (go.mod here), once,
# into a cache outside the repository keyed by its version; the chart's alerts are tested with it
# (tests/deploy/test_alerts.py: promtool check rules, promtool test rules).
#
#   build.sh          build it unless built, print the directory
#   build.sh --dir    print the cache directory only (no Go needed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version=$(awk -v m=github.com/prometheus/prometheus '$1 == "require" && $2 == m {print $3; exit} $1 == m && $2 ~ /^v/ {print $2; exit}' "$here/go.mod")
cache=${PLACEMENT_WEBHOOK_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/placement-webhook}
dir="$cache/promtool-$version"

if [[ ${1:-} == --dir ]]; then
	echo "$dir"
	exit 0
fi

stamp="$dir/.stamp"
want="$(cat "$here/go.mod" "$here/go.sum" "$0" | sha256sum | cut -d' ' -f1) $(go env GOVERSION)"
if [[ -f $stamp && $(cat "$stamp") == "$want" && -x $dir/promtool ]]; then
	echo "promtool: $dir (cached)"
	exit 0
fi
mkdir -p "$dir"
started=$(date +%s)
(cd "$here" && CGO_ENABLED=0 GOFLAGS="-buildvcs=false -mod=readonly" \
	go build -trimpath -ldflags "-s -w" -o "$dir/promtool" github.com/prometheus/prometheus/cmd/promtool)
echo "$want" >"$stamp"
echo "promtool: $dir (built in $(($(date +%s) - started)) s: $("$dir/promtool" --version 2>&1 | head -1))"
