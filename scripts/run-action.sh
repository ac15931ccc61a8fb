#!/usr/bin/env bash
# Runs one `gitops` subcommand for a stage action: turns the action's inputs, passed as
# environment variables, into command-line arguments, then forwards the command's JSON result as
# step outputs. Inputs never reach a shell as code: each value is one argv entry.
#
# Usage: run-action.sh SUBCOMMAND [SUBCOMMAND...]      e.g. `run-action.sh tag`, `run-action.sh retention plan`
#
# Environment:
#   INPUT_<NAME>   one per flag: INPUT_TO_ENV -> --to-env. Empty means "not given" (gitops's default).
#                  For a flag that takes a value, each non-empty line is one occurrence
#                  (`image: |` with two lines -> --image A --image B). For a switch, `true` or
#                  `false`. Whether a flag takes a value is read from `gitops <cmd> --help`, and an
#                  input with no such flag is an error rather than silently ignored.
#   ARG_<N>_<NAME> positional arguments, in the order of N (empty: left out; each line one argument).
#   GITOPS_BIN     the binary (the setup step's `path` output); default: `gitops` on PATH.
#   GITHUB_OUTPUT  the command writes its own outputs there (GITHUB_ACTIONS=true); this script
#                  adds `json` (the whole result, on one line) and every other top-level field of
#                  the JSON (snake_case and kebab-case names; strings and numbers as they are,
#                  booleans as true/false, arrays of strings one per line (an empty array: the
#                  empty string), anything else as compact JSON).
#                  Fields are extracted with jq when it is installed (it is on GitHub's runners).
#
# Exit code: the command's own (0 success, 1 a gate or policy said no, 2 usage, 3 external).
set -euo pipefail

[ $# -ge 1 ] || {
  echo "usage: run-action.sh SUBCOMMAND..." >&2
  exit 2
}

bin=${GITOPS_BIN:-gitops}
if ! command -v "$bin" >/dev/null; then
  echo "::error title=gitops::gitops is not installed; the setup step must run first" >&2
  exit 2
fi

help=$("$bin" "$@" --help 2>&1) || {
  printf '%s\n' "$help" >&2
  echo "::error title=gitops::'gitops $*' is not a command of this gitops version" >&2
  exit 2
}

args=("$@")
bad=0
# Inputs in a stable (sorted) order so that the command line is reproducible.
while IFS= read -r var; do
  value=${!var}
  [ -n "$value" ] || continue
  # tr rather than ${name,,}: macOS ships bash 3.2.
  name=$(printf '%s' "${var#INPUT_}" | tr '[:upper:]_' '[:lower:]-')
  flag="--$name"
  if grep -Eq -- "^[[:space:]]+(-[[:alnum:]], )?${flag}[ =]\[?<" <<<"$help"; then
    while IFS= read -r line || [ -n "$line" ]; do
      line=${line%$'\r'}
      [ -n "$line" ] && args+=("$flag" "$line")
    done <<<"$value"
  elif grep -Eq -- "^[[:space:]]+(-[[:alnum:]], )?$flag([[:space:]]|\$)" <<<"$help"; then
    case "$value" in
      true) args+=("$flag") ;;
      false) ;;
      *)
        echo "::error title=gitops::input '${flag#--}' must be true or false, got '$value'" >&2
        bad=1
        ;;
    esac
  else
    echo "::error title=gitops::input '${flag#--}' has no matching flag $flag in 'gitops $*'; the action and the gitops version disagree" >&2
    bad=1
  fi
done < <(compgen -e | grep -E '^INPUT_[A-Z0-9_]+$' | LC_ALL=C sort)
[ "$bad" -eq 0 ] || exit 2

while IFS= read -r var; do
  value=${!var}
  while IFS= read -r line || [ -n "$line" ]; do
    line=${line%$'\r'}
    [ -n "$line" ] && args+=("$line")
  done <<<"$value"
done < <(compgen -e | grep -E '^ARG_[0-9]+_[A-Z0-9_]+$' | LC_ALL=C sort -t _ -k 2,2n)

echo "gitops --format json ${args[*]}" >&2

out=$(mktemp "${RUNNER_TEMP:-${TMPDIR:-/tmp}}/gitops-out.XXXXXX")
trap 'rm -f "$out"' EXIT
outputs_before=0
if [ -n "${GITHUB_OUTPUT:-}" ] && [ -f "$GITHUB_OUTPUT" ]; then
  outputs_before=$(wc -c <"$GITHUB_OUTPUT")
fi
status=0
"$bin" --format json "${args[@]}" >"$out" || status=$?

if [ -s "$out" ] && [ -n "${GITHUB_OUTPUT:-}" ]; then
  # JSON strings cannot span lines, so dropping line breaks and indentation keeps it valid.
  json=$(sed -e 's/^[[:space:]]*//' "$out" | tr -d '\r\n')
  printf 'json=%s\n' "$json" >>"$GITHUB_OUTPUT"
  if command -v jq >/dev/null; then
    # Outputs the command wrote itself keep the command's format; the other top-level fields
    # of the JSON are added, one output each; multi-line values use a random heredoc delimiter.
    written=$(tail -c +"$((outputs_before + 1))" "$GITHUB_OUTPUT" | awk '
      d != "" { if ($0 == d) d = ""; next }
      /^[A-Za-z_][A-Za-z0-9_-]*<</ { i = index($0, "<<"); print substr($0, 1, i - 1); d = substr($0, i + 2); next }
      /^[A-Za-z_][A-Za-z0-9_-]*=/ { print substr($0, 1, index($0, "=") - 1) }' |
      jq -R -s -c 'split("\n") | map(select(length > 0))')
    delimiter="gitops_$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')"
    jq -r --arg d "$delimiter" --argjson written "$written" '
      if type == "object" then
        to_entries[]
        | (.value | if type == "string" then .
                    elif type == "boolean" or type == "number" then tostring
                    elif type == "null" then ""
                    elif type == "array" and all(.[]; type == "string") then join("\n")
                    else tojson end) as $v
        | .key as $k
        | ([$k] + (if ($k | contains("_")) then [$k | gsub("_"; "-")] else [] end))
        | select(all(.[]; . as $n | $written | any(.[]; . == $n) | not))
        | .[]
        | if ($v | contains("\n")) then "\(.)<<\($d)\n\($v)\n\($d)" else "\(.)=\($v)" end
      else empty end' "$out" >>"$GITHUB_OUTPUT" ||
      echo "::warning title=gitops::the output of 'gitops $*' is not JSON; only the 'json' output is set" >&2
  else
    echo "::warning title=gitops::jq is not installed: only the 'json' output is set" >&2
  fi
fi
# Show the result in the log as well (stdout of the step).
cat "$out"
exit "$status"
