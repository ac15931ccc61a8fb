#!/usr/bin/env bash
# Puts `gitops` on PATH for the GitHub Actions of this repository (root action.yml and every
# stage action run it). Runnable locally too: every runner variable has a fallback.
#
# Normal path: the prebuilt archive of the action's own version for the runner's OS and
# architecture, downloaded from the project's GitHub Release, checked against its published
# sha256 and kept in the runner's tool cache, so a second run in the same job (or on a runner
# with a warm cache) only checks a marker file.
#
# Environment (all optional):
#   GITOPS_VERSION            version to install (`1.2.3` or `v1.2.3`); default: this checkout's
#                             workspace version in Cargo.toml, i.e. the action's own version
#   GITOPS_FROM_SOURCE        `true`: build with `cargo install --locked --path` from this checkout
#   GITOPS_DOWNLOAD_BASE_URL  where releases live; the archive is fetched from
#                             "$GITOPS_DOWNLOAD_BASE_URL/v<version>/<archive>" (tests point it at a
#                             local file server); default: the release downloads of the repository
#   GITOPS_ACTION_REPOSITORY  owner/name publishing the releases (default: GITHUB_ACTION_REPOSITORY,
#                             else the repository URL in Cargo.toml)
#   GITHUB_SERVER_URL, RUNNER_OS, RUNNER_ARCH, RUNNER_TEMP,
#   RUNNER_TOOL_CACHE, GITHUB_PATH, GITHUB_OUTPUT: as set by the runner
#
# Outputs (to $GITHUB_OUTPUT): path (the binary), version, cache-hit (true/false).
# Exit codes: 0 installed; 1 the download or its checksum failed (nothing installed);
# 2 bad input or unsupported platform.
set -euo pipefail

log() { printf 'setup-gitops: %s\n' "$*" >&2; }
fail() {
  local code=$1
  shift
  # An annotation makes the reason visible on the run's summary page.
  if [ "${GITHUB_ACTIONS:-}" = "true" ]; then
    local msg=$*
    msg=${msg//'%'/'%25'}
    printf '::error title=gitops setup::%s\n' "$msg"
  fi
  log "error: $*"
  exit "$code"
}

action_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

workspace_field() {
  # Reads `name = "value"` from the [workspace.package] table of the action's Cargo.toml.
  sed -n '/^\[workspace\.package\]/,/^\[/{s/^'"$1"' *= *"\(.*\)"/\1/p;}' "$action_root/Cargo.toml" | head -n 1
}

# --- version ---------------------------------------------------------------------------
version=${GITOPS_VERSION:-}
if [ -z "$version" ] || [ "$version" = "action" ]; then
  [ -f "$action_root/Cargo.toml" ] || fail 2 "no version given and no Cargo.toml in $action_root"
  version=$(workspace_field version)
fi
version=${version#v}
if ! [[ "$version" =~ ^[0-9]+\.[0-9]+\.[0-9]+(-[0-9A-Za-z.-]+)?$ ]]; then
  fail 2 "version '$version' is not a release version such as 1.2.3 (set the action's 'version' input)"
fi

# --- platform --------------------------------------------------------------------------
os=${RUNNER_OS:-$(uname -s)}
arch=${RUNNER_ARCH:-$(uname -m)}
case "$arch" in
  X64 | x86_64 | amd64) cpu=x86_64 cache_arch=x64 ;;
  ARM64 | aarch64 | arm64) cpu=aarch64 cache_arch=arm64 ;;
  *) fail 2 "no prebuilt gitops for architecture '$arch'; use 'from-source: true'" ;;
esac
case "$os" in
  Linux) target="$cpu-unknown-linux-musl" ;;
  macOS | Darwin) target="$cpu-apple-darwin" ;;
  *) fail 2 "no prebuilt gitops for '$os'; use 'from-source: true' (Linux and macOS are published)" ;;
esac

temp_root=${RUNNER_TEMP:-${TMPDIR:-/tmp}}
tool_cache=${RUNNER_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gitops-action/tool-cache}

publish() {
  # $1 = directory holding the binary, $2 = cache-hit
  local bin="$1/gitops"
  if [ -n "${GITHUB_PATH:-}" ]; then
    printf '%s\n' "$1" >>"$GITHUB_PATH"
  fi
  if [ -n "${GITHUB_OUTPUT:-}" ]; then
    {
      printf 'path=%s\n' "$bin"
      printf 'version=%s\n' "$version"
      printf 'cache-hit=%s\n' "$2"
    } >>"$GITHUB_OUTPUT"
  fi
  log "gitops $version ready at $bin (cache-hit: $2)"
}

# --- from source -----------------------------------------------------------------------
if [ "${GITOPS_FROM_SOURCE:-false}" = "true" ]; then
  command -v cargo >/dev/null || fail 2 "from-source needs cargo on PATH (e.g. a Rust toolchain set-up step first)"
  # Per job (RUNNER_TEMP): later stage actions in the same job reuse the build of this checkout.
  root="$temp_root/gitops-from-source"
  if [ -x "$root/bin/gitops" ] && [ "$("$root/bin/gitops" --version 2>/dev/null)" = "gitops $version" ]; then
    publish "$root/bin" true
    exit 0
  fi
  log "building gitops from $action_root with cargo install --locked"
  cargo install --locked --quiet --path "$action_root/crates/gitops-action" --root "$root" --force >&2
  publish "$root/bin" false
  exit 0
elif [ "${GITOPS_FROM_SOURCE:-false}" != "false" ]; then
  fail 2 "from-source must be 'true' or 'false', got '${GITOPS_FROM_SOURCE}'"
fi

# --- warm tool cache -------------------------------------------------------------------
# Same layout as @actions/tool-cache: <cache>/<tool>/<version>/<arch> plus an <arch>.complete marker.
cache_dir="$tool_cache/gitops/$version/$cache_arch"
if [ -f "$cache_dir.complete" ] && [ -x "$cache_dir/gitops" ]; then
  publish "$cache_dir" true
  exit 0
fi

# --- cold install ----------------------------------------------------------------------
archive="gitops-v$version-$target.tar.gz"
if [ -n "${GITOPS_DOWNLOAD_BASE_URL:-}" ]; then
  base=${GITOPS_DOWNLOAD_BASE_URL%/}
else
  repo=${GITOPS_ACTION_REPOSITORY:-${GITHUB_ACTION_REPOSITORY:-}}
  if [ -z "$repo" ]; then
    repo=$(workspace_field repository)
    repo=${repo#https://github.com/}
  fi
  [ -n "$repo" ] || fail 2 "cannot tell which repository publishes the releases; set GITOPS_DOWNLOAD_BASE_URL"
  base="${GITHUB_SERVER_URL:-https://github.com}/$repo/releases/download"
fi
url="$base/v$version/$archive"

work=$(mktemp -d "$temp_root/gitops-setup.XXXXXX")
trap 'rm -rf "$work"' EXIT

download() {
  # $1 = url, $2 = destination
  if command -v curl >/dev/null; then
    curl --fail --silent --show-error --location --retry 3 --retry-connrefused \
      --connect-timeout 10 --max-time 300 --output "$2" "$1"
  elif command -v wget >/dev/null; then
    wget --quiet --tries=3 --timeout=30 --output-document="$2" "$1"
  else
    fail 2 "neither curl nor wget is installed"
  fi
}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d ' ' -f 1
  else
    shasum -a 256 "$1" | cut -d ' ' -f 1
  fi
}

log "downloading $url"
download "$url" "$work/$archive" || fail 1 "cannot download $url"
download "$url.sha256" "$work/$archive.sha256" || fail 1 "cannot download the checksum $url.sha256"

expected=$(tr -d '\r' <"$work/$archive.sha256" | awk 'NR == 1 { print tolower($1) }')
[[ "$expected" =~ ^[0-9a-f]{64}$ ]] || fail 1 "$url.sha256 does not hold a sha256 (got '${expected:0:80}')"
actual=$(sha256_of "$work/$archive")
if [ "$actual" != "$expected" ]; then
  fail 1 "checksum mismatch for $archive: expected $expected, got $actual; refusing to install it"
fi

mkdir -p "$work/unpacked"
tar -xzf "$work/$archive" -C "$work/unpacked" || fail 1 "cannot unpack $archive"
binary=$(find "$work/unpacked" -type f -name gitops | head -n 1)
[ -n "$binary" ] || fail 1 "$archive holds no 'gitops' binary"
chmod +x "$binary"

# Move into place, then mark complete: a crash half-way leaves no marker and the next run retries.
staged="$cache_dir.partial.$$"
rm -rf "$staged"
mkdir -p "$staged"
mv "$binary" "$staged/gitops"
rm -rf "$cache_dir"
mv "$staged" "$cache_dir"
touch "$cache_dir.complete"

publish "$cache_dir" false
