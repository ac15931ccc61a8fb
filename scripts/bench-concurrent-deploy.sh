#!/usr/bin/env bash
# N concurrent `gitops deploy` processes (different images, same overlay file) against one bare
# remote served by `git daemon` (real receive-pack). Prints each process's time to land, the
# median and the worst, and checks that exactly N commits landed.
#
# usage: scripts/bench-concurrent-deploy.sh [path/to/gitops] [N]
# default binary: target/release/gitops (build it with `cargo build --release -p gitops-action`)
set -euo pipefail
bin="$(realpath "${1:-target/release/gitops}")"
n="${2:-20}"
work="$(mktemp -d)"
daemon_pid=""
cleanup() {
  if [ -n "$daemon_pid" ]; then kill "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

export GIT_AUTHOR_NAME=bench GIT_AUTHOR_EMAIL=bench@example.com
export GIT_COMMITTER_NAME=bench GIT_COMMITTER_EMAIL=bench@example.com
cd "$work"
git init -q --bare -b main remote.git
git init -q -b main seed
mkdir -p seed/overlays/production
cat > seed/overlays/production/kustomization.yaml <<'EOF'
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: backend
    newTag: v0
EOF
git -C seed add -A
git -C seed commit -q -m seed
git -C seed push -q ../remote.git main

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
# git-daemon itself (not the `git daemon` wrapper), so that killing $daemon_pid stops it.
"$(git --exec-path)/git-daemon" --reuseaddr --enable=receive-pack --export-all --base-path="$work" \
  --port="$port" --listen=127.0.0.1 "$work" >/dev/null 2>&1 &
daemon_pid=$!
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.025
done

{
  echo "registry: registry.example.com/acme"
  echo "images:"
  for i in $(seq -w 0 $((n - 1))); do echo "  - name: svc$i"; done
  echo "environments:"
  echo "  production: {branch: main, tag_prefix: prod, overlay: overlays/production}"
  echo "gitops: {repo: \"git://127.0.0.1:$port/remote.git\"}"
} > gitops.yaml

before="$(git -C remote.git rev-list --count main)"
for i in $(seq -w 0 $((n - 1))); do
  (
    start=$(date +%s%N)
    "$bin" --policy gitops.yaml --format json deploy --env production \
      --image "svc$i=registry.example.com/acme/svc$i:prod-abc1234-20251203-160000" > "out$i.json" 2> "err$i.log"
    end=$(date +%s%N)
    echo "$(( (end - start) / 1000000 ))" > "ms$i"
  ) &
done
wait_failed=0
for job in $(jobs -p); do
  if [ "$job" != "$daemon_pid" ]; then wait "$job" || wait_failed=1; fi
done
after="$(git -C remote.git rev-list --count main)"
landed=$((after - before))
times="$(cat ms* | sort -n)"
attempts="$(grep -ho '"attempts": [0-9]*' out*.json | awk '{print $2}' | sort -n | tr '\n' ' ')"
median="$(echo "$times" | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}')"
worst="$(echo "$times" | tail -1)"
echo "processes: $n, commits landed: $landed, failures: $wait_failed"
echo "time to land (ms), sorted: $(echo "$times" | tr '\n' ' ')"
echo "attempts per process, sorted: $attempts"
echo "median: ${median} ms, worst: ${worst} ms"
[ "$landed" -eq "$n" ] && [ "$wait_failed" -eq 0 ]
