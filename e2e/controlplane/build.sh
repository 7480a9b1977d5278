#!/usr/bin/env bash
# Builds the control plane the e2e tests run (tests/e2e) from the pinned Go
# modules in this directory, once, into a cache outside the repository:
#   kube-apiserver kube-controller-manager kube-scheduler kubectl  (./k8s)
#   etcd                                                           (./etcd)
#   helm                                                           (./helm)
# The cache directory is keyed by the three pinned versions; a stamp in it
# makes a rerun a no-op. Binaries already present in $KUBEBUILDER_ASSETS
# (envtest's convention) are used from there and not built.
#
#   build.sh          build what is missing, print the directory
#   build.sh --dir    print the cache directory only (no Go needed)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
version() { awk -v m="$1" '$1 == "require" && $2 == m {print $3; exit} $1 == m && $2 ~ /^v/ {print $2; exit}' "$2"; }
k8s=$(version k8s.io/kubernetes "$here/k8s/go.mod")
etcd=$(version go.etcd.io/etcd/server/v3 "$here/etcd/go.mod")
helm=$(version helm.sh/helm/v3 "$here/helm/go.mod")
cache=${PLACEMENT_WEBHOOK_CONTROL_PLANE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/placement-webhook}
dir="$cache/k8s-$k8s-etcd-$etcd-helm-$helm"

if [[ ${1:-} == --dir ]]; then
	echo "$dir"
	exit 0
fi

k8s_cmds=(kube-apiserver kube-controller-manager kube-scheduler kubectl)
stamp="$dir/.stamp"
# The stamp records what the binaries were built from: a change to a go.mod,
# a go.sum or the Go toolchain rebuilds.
want=$(cat "$here"/*/go.mod "$here"/*/go.sum "$0" | sha256sum | cut -d' ' -f1)
want="$want $(go env GOVERSION 2>/dev/null || echo no-go) assets=${KUBEBUILDER_ASSETS:-}"

if [[ -f $stamp && $(cat "$stamp") == "$want" ]]; then
	echo "control plane: $dir (cached)"
	exit 0
fi

# Which binaries must be built here: those not found in KUBEBUILDER_ASSETS.
missing() {
	local b
	for b in "$@"; do
		if [[ -z ${KUBEBUILDER_ASSETS:-} || ! -x $KUBEBUILDER_ASSETS/$b ]]; then
			echo "$b"
		fi
	done
}

mkdir -p "$dir"
export CGO_ENABLED=0 GOFLAGS=-buildvcs=false
build=(go build -trimpath)

mapfile -t todo < <(missing "${k8s_cmds[@]}")
if ((${#todo[@]})); then
	# One go build for all four commands: every shared package compiles once.
	minor=${k8s#v1.}
	minor=${minor%%.*}
	now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
	ld="-s -w"
	for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
		ld+=" -X $pkg.gitVersion=$k8s -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
		ld+=" -X $pkg.gitTreeState=clean -X $pkg.buildDate=$now"
	done
	echo "building ${todo[*]} $k8s into $dir"
	(cd "$here/k8s" && "${build[@]}" -ldflags "$ld" -o "$dir/" \
		"${todo[@]/#/k8s.io/kubernetes/cmd/}")
fi
if [[ -n $(missing etcd) ]]; then
	echo "building etcd $etcd into $dir"
	(cd "$here/etcd" && "${build[@]}" -ldflags "-s -w" -o "$dir/etcd" go.etcd.io/etcd/server/v3)
fi
if [[ -n $(missing helm) ]]; then
	echo "building helm $helm into $dir"
	(cd "$here/helm" && "${build[@]}" -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$helm" \
		-o "$dir/helm" helm.sh/helm/v3/cmd/helm)
fi
echo "$want" >"$stamp"
echo "control plane: $dir"
