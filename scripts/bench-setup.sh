#!/usr/bin/env bash
# Measures the GitHub Actions setup (scripts/setup-gitops.sh) the way a runner uses it:
#   - the release archive: size of gitops-v<version>-<target>.tar.gz made from a release build,
#   - a cold install: download from a loopback HTTP server + sha256 check + unpack into an empty
#     tool cache,
#   - a warm tool cache: the second and later setups of a job or a warm runner.
# Needs: a release build (`cargo build --release -p gitops-action`), python3 (the file server),
# hyperfine. Usage: scripts/bench-setup.sh [path/to/release/gitops]
set -euo pipefail
cd "$(dirname "$0")/.."

bin=${1:-target/release/gitops}
[ -x "$bin" ] || {
  echo "no release binary at $bin: run cargo build --release -p gitops-action" >&2
  exit 2
}
version=$(sed -n '/^\[workspace\.package\]/,/^\[/{s/^version *= *"\(.*\)"/\1/p;}' Cargo.toml)
case "$(uname -m)" in
  aarch64 | arm64) target=aarch64-unknown-linux-musl arch=ARM64 ;;
  *) target=x86_64-unknown-linux-musl arch=X64 ;;
esac
archive="gitops-v$version-$target.tar.gz"

work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mkdir -p "$work/stage" "$work/release/v$version" "$work/temp" "$work/cache"
cp "$bin" "$work/stage/gitops"
tar -czf "$work/release/v$version/$archive" -C "$work/stage" gitops
(cd "$work/release/v$version" && sha256sum "$archive" >"$archive.sha256")

binary_bytes=$(wc -c <"$bin")
archive_bytes=$(wc -c <"$work/release/v$version/$archive")
printf 'binary:  %s bytes (%.1f MiB)\n' "$binary_bytes" "$(awk "BEGIN { print $binary_bytes / 1048576 }")"
printf 'archive: %s bytes (%.1f MiB) %s\n' "$archive_bytes" "$(awk "BEGIN { print $archive_bytes / 1048576 }")" "$archive"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python3 -m http.server --bind 127.0.0.1 --directory "$work/release" "$port" >/dev/null 2>&1 &
server_pid=$!
for _ in $(seq 1 50); do
  curl -fsS "http://127.0.0.1:$port/v$version/$archive.sha256" >/dev/null 2>&1 && break
  sleep 0.1
done

export RUNNER_OS=Linux RUNNER_ARCH=$arch RUNNER_TEMP="$work/temp" RUNNER_TOOL_CACHE="$work/cache"
export GITOPS_DOWNLOAD_BASE_URL="http://127.0.0.1:$port" GITOPS_VERSION="$version"
unset GITHUB_OUTPUT GITHUB_PATH

hyperfine --warmup 2 --runs 20 -N --export-json "$work/cold.json" \
  --prepare "rm -rf $work/cache/gitops" \
  --command-name 'cold install (download + sha256 + unpack)' 'bash scripts/setup-gitops.sh'
bash scripts/setup-gitops.sh 2>/dev/null
hyperfine --warmup 5 --runs 100 -N --export-json "$work/warm.json" \
  --command-name 'warm tool cache' 'bash scripts/setup-gitops.sh'
for run in cold warm; do
  jq -r --arg run "$run" '.results[0] | "\($run): median \(.median * 1000 | . * 10 | round / 10) ms, min \(.min * 1000 | . * 10 | round / 10) ms, max \(.max * 1000 | . * 10 | round / 10) ms"' "$work/$run.json"
done
