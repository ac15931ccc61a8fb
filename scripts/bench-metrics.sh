#!/usr/bin/env bash
# Measures `gitops metrics` on a synthetic ledger: N deploy commits (default 10000) over three
# environments, every source commit present in the repository (lead time looked up for each),
# one production rollback in 20. Needs git and hyperfine; uses target/release/gitops unless
# GITOPS_BIN is set. KEEP_REPORT=FILE keeps the HTML report.
#
#   cargo build --release -p gitops-action && scripts/bench-metrics.sh 10000
set -euo pipefail
cd "$(dirname "$0")/.."

n=${1:-10000}
bin=$(realpath "${GITOPS_BIN:-target/release/gitops}")
command -v hyperfine >/dev/null || { echo "hyperfine is missing: apt-get install hyperfine" >&2; exit 2; }
[ -x "$bin" ] || { echo "$bin not found: cargo build --release -p gitops-action" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
repo="$work/ledger"
git init -q "$repo"

# Source commits, one per deploy, 30 minutes apart ending 2026-11-29 (Unix time 1795953600).
end=1795953600
start=$((end - n * 1800))
awk -v n="$n" -v start="$start" 'BEGIN {
  for (i = 1; i <= n; i++) {
    t = start + (i - 1) * 1800
    msg = "feat: change " i "\n"
    printf "commit refs/heads/app\nmark :%d\ncommitter dev <dev@example.com> %d +0000\ndata %d\n%s", i, t, length(msg), msg
    if (i > 1) printf "from :%d\n", i - 1
    printf "\n"
  }
}' | git -C "$repo" fast-import --quiet
git -C "$repo" log --reverse --format=%H app > "$work/shas"

# One deploy commit per source commit, 20 minutes after it, cycling through the environments.
awk -v start="$start" 'BEGIN { split("development staging production", envs, " ") }
{
  i = NR
  t = start + (i - 1) * 1800 + 1200
  env = envs[(i % 3) + 1]
  kind = "deploy"
  # Without Gitops-Rollback-Of, a rollback undoes the deployment live before it.
  if (env == "production" && i % 20 == 0) kind = "rollback"
  msg = kind "(" env "): backend " env "-" substr($1, 1, 7) "\n\nGitops-Kind: " kind "\nGitops-Environment: " env "\nGitops-Image: backend=registry.example.com/acme/backend:" env "-" substr($1, 1, 7) "@sha256:" sprintf("%064d", i) "\nGitops-Source-Commit: " $1 "\n"
  printf "commit refs/heads/main\nmark :%d\ncommitter gitops-bot <bot@example.com> %d +0000\ndata %d\n%s", i, t, length(msg), msg
  if (i > 1) printf "from :%d\n", i - 1
  printf "\n"
}' "$work/shas" | git -C "$repo" fast-import --quiet

echo "ledger: $(git -C "$repo" rev-list --count main) deploy commits, $(git -C "$repo" rev-list --count app) source commits"
cd "$work"
hyperfine --warmup 2 --runs 10 --export-markdown "$work/result.md" \
  -n "table (${n} commits, 90d)" "$bin metrics --gitops-repo $repo --until 2026-11-29 --since 90d" \
  -n "json (${n} commits, all)" "$bin metrics --gitops-repo $repo --until 2026-11-29 --since 1000d --format json" \
  -n "prometheus (${n} commits, 90d)" "$bin metrics --gitops-repo $repo --until 2026-11-29 --prometheus" \
  -n "html report (${n} commits, 90d)" "$bin metrics --gitops-repo $repo --until 2026-11-29 --html $work/report.html" \
  >/dev/null
cat "$work/result.md"
ls -l "$work/report.html" | awk '{print "report.html: " $5 " bytes"}'
# KEEP_REPORT=FILE keeps the HTML report of the last run for a look.
if [ -n "${KEEP_REPORT:-}" ]; then cp "$work/report.html" "$KEEP_REPORT"; fi
