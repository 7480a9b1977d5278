#!/usr/bin/env bash
# Prints the replace block k8s/go.mod needs for a k8s.io/kubernetes release: every staging module
# the release's own go.mod requires at v0.0.0, at the matching v0.X.Y. Usage: gen-replace.sh v1.37.2
set -euo pipefail
release=${1:?usage: gen-replace.sh v1.MINOR.PATCH}
staging=v0.${release#v1.}
mod=$(curl -fsSL "${GOPROXY%%,*}/k8s.io/kubernetes/@v/$release.mod" 2>/dev/null ||
	curl -fsSL "https://proxy.golang.org/k8s.io/kubernetes/@v/$release.mod")
echo "replace ("
awk '/^require \(/ {r = 1; next} r && /^\)/ {r = 0} r && $2 == "v0.0.0" {print $1}' <<<"$mod" |
	sort -u | while read -r module; do printf '\t%s => %s %s\n' "$module" "$module" "$staging"; done
echo ")"
