#!/usr/bin/env bash
# Second step of the plan action: turns the plan into the `matrix` output that the reusable
# workflow fans out over (one job per image), keeping only the images whose sources changed.
#
# An image is kept when the policy gives it no `paths`, when the base of the change is unknown
# (first push of a branch, shallow clone, no event), or when a changed file matches one of its
# paths. Patterns: `*` within one path segment, `**` across segments, `?` one character; a
# pattern without wildcards names a file or a whole directory (`services/api` or `services/api/`).
#
# Environment:
#   PLAN_JSON          the plan (`gitops plan --format json`), from the previous step
#   GITOPS_BIN         the gitops binary; GITOPS_POLICY / INPUT_POLICY: the policy file
#   GITHUB_EVENT_NAME, GITHUB_EVENT_PATH: the base is the pull request's base commit or the
#                      push's `before` commit
#   GITHUB_OUTPUT      receives `matrix` (compact JSON array of objects: name, repository,
#                      references, context, dockerfile, paths) and `changed` (names, one per line)
set -euo pipefail

bin=${GITOPS_BIN:-gitops}
: "${PLAN_JSON:?PLAN_JSON (the plan) is required}"
policy_args=()
if [ -n "${INPUT_POLICY:-}" ]; then policy_args=(--policy "$INPUT_POLICY"); fi

policy=$("$bin" --format json "${policy_args[@]}" policy explain)
head=$(jq -r '.event.sha // empty' <<<"$PLAN_JSON")

base=
if [ -n "${GITHUB_EVENT_PATH:-}" ] && [ -f "$GITHUB_EVENT_PATH" ]; then
  case "${GITHUB_EVENT_NAME:-}" in
    pull_request | pull_request_target) base=$(jq -r '.pull_request.base.sha // empty' "$GITHUB_EVENT_PATH") ;;
    push) base=$(jq -r '.before // empty' "$GITHUB_EVENT_PATH") ;;
  esac
fi
case "$base" in *[!0]*) ;; *) base= ;; esac # all zeros: a new branch

changed_files=null
if [ -n "$base" ] && [ -n "$head" ] &&
  git cat-file -e "$base^{commit}" 2>/dev/null && git cat-file -e "$head^{commit}" 2>/dev/null; then
  since=$(git merge-base "$base" "$head" 2>/dev/null || printf '%s' "$base")
  changed_files=$(git diff --name-only "$since" "$head" | jq -R -s -c 'split("\n") | map(select(length > 0))')
  echo "changes since ${since:0:7}: $(jq 'length' <<<"$changed_files") file(s)" >&2
else
  echo "base of the change unknown: every image is built" >&2
fi

matrix=$(jq -c -n --argjson plan "$PLAN_JSON" --argjson policy "$policy" --argjson changed "$changed_files" '
  def glob_regex:
    gsub("(?<c>[.+^${}()|\\[\\]\\\\])"; "\\\(.c)")
    | gsub("\\*\\*/"; "\u0001") | gsub("\\*\\*"; "\u0002")
    | gsub("\\*"; "[^/]*") | gsub("\\?"; "[^/]")
    | gsub("\u0001"; "(.*/)?") | gsub("\u0002"; ".*")
    | "^" + . + "$";
  def matches($file):
    if test("[*?]") then glob_regex as $re | ($file | test($re))
    else rtrimstr("/") as $dir | ($file == $dir or ($file | startswith($dir + "/")))
    end;
  ($policy.images // [] | map({key: .name, value: .}) | from_entries) as $spec
  | [ ($plan.images // [])[]
      | . as $image
      | ($spec[$image.name] // {}) as $s
      | ($s.paths // []) as $paths
      | select($changed == null or ($paths | length) == 0
               or any($paths[]; . as $p | any($changed[]; . as $f | $p | matches($f))))
      | $image + {context: ($s.context // "."), dockerfile: ($s.dockerfile // ""), paths: $paths} ]')

if [ -n "${GITHUB_OUTPUT:-}" ]; then
  printf 'matrix=%s\n' "$matrix" >>"$GITHUB_OUTPUT"
  delimiter="gitops_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
  printf 'changed<<%s\n%s\n%s\n' "$delimiter" "$(jq -r '.[].name' <<<"$matrix")" "$delimiter" >>"$GITHUB_OUTPUT"
fi
echo "images to build: $(jq -r 'map(.name) | join(", ")' <<<"$matrix")" >&2
