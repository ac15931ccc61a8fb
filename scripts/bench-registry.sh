#!/usr/bin/env bash
# Registry promotion and push benchmark (docs/performance.md, "Registry: promotion and push").
#
# Starts a docker-registry 2.8 on loopback with its own storage, pushes a synthetic 200 MiB
# single-arch image (5 layers of 40 MiB), then measures in one run on the same registry:
#   1. `gitops promote` to two new tags: requests (from the registry's access log) and bytes;
#   2. `skopeo copy docker://R/app:dev-... docker://R/app:staging-...`: requests;
#   3. hyperfine, side by side, each run writing fresh tags;
#   4. `gitops push` of the same image again (every layer exists): requests by method.
#
# Usage: scripts/bench-registry.sh [path/to/gitops]   (default: target/release/gitops)
# Needs: docker-registry, skopeo, hyperfine, python3, curl.
set -euo pipefail

GITOPS=${1:-target/release/gitops}
GITOPS=$(realpath "$GITOPS")
WORK=$(mktemp -d)
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
R=127.0.0.1:$PORT
cleanup() {
  if [[ -n "${REG_PID:-}" ]]; then kill "$REG_PID" 2>/dev/null || true; wait "$REG_PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

cat >"$WORK/config.yml" <<YAML
version: 0.1
log:
  level: error
storage:
  filesystem:
    rootdirectory: $WORK/storage
  delete:
    enabled: true
http:
  addr: $R
  secret: bench
YAML
docker-registry serve "$WORK/config.yml" >"$WORK/access.log" 2>"$WORK/registry.log" &
REG_PID=$!
for _ in $(seq 1 100); do
  curl -fsS "http://$R/v2/" >/dev/null 2>&1 && break
  sleep 0.1
done

# A 200 MiB image: 5 layers of 40 MiB of random bytes, as an OCI layout.
python3 - "$WORK/layout" <<'PY'
import hashlib, json, os, sys
root = sys.argv[1]
blobs = os.path.join(root, "blobs", "sha256")
os.makedirs(blobs)
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    with open(os.path.join(blobs, d), "wb") as f:
        f.write(data)
    return {"digest": "sha256:" + d, "size": len(data)}
layers = [dict(blob(os.urandom(40 * 1024 * 1024)), mediaType="application/vnd.oci.image.layer.v1.tar") for _ in range(5)]
config = dict(blob(json.dumps({"architecture": "amd64", "os": "linux",
    "rootfs": {"type": "layers", "diff_ids": [l["digest"] for l in layers]}}).encode()),
    mediaType="application/vnd.oci.image.config.v1+json")
manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": config, "layers": layers}).encode()
m = dict(blob(manifest), mediaType="application/vnd.oci.image.manifest.v1+json")
with open(os.path.join(root, "index.json"), "w") as f:
    json.dump({"schemaVersion": 2, "manifests": [m]}, f)
with open(os.path.join(root, "oci-layout"), "w") as f:
    f.write('{"imageLayoutVersion":"1.0.0"}')
PY

cd "$WORK"
export SOURCE_DATE_EPOCH=1767225600
lines() { wc -l <"$WORK/access.log"; }
since() { tail -n +"$(($1 + 1))" "$WORK/access.log"; }
methods() { awk -F'"' '{split($2, a, " "); print a[1]}' | sort | uniq -c | tr '\n' ' '; }

"$GITOPS" push "$WORK/layout" --image "$R/app" --tag dev-0123456-20251231-000000 --no-annotations --format json >"$WORK/push1.json"
echo "initial push: $(python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d["requests"], "requests,", d["bytes_transferred"], "bytes")' "$WORK/push1.json")"

echo
echo "== gitops promote to two new tags (same repository) =="
M=$(lines)
"$GITOPS" promote "$R/app:dev-0123456-20251231-000000" --to-env staging --format json >"$WORK/promote.json"
sleep 0.3
echo "access log: $(since "$M" | wc -l) requests: $(since "$M" | methods)"
since "$M" | awk -F'"' '{print "  " $2}'
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("gitops reports:", d["requests"], "requests,", d["bytes_transferred"], "bytes on the wire (bodies)")' "$WORK/promote.json"

echo
echo "== skopeo copy to a new tag (same repository) =="
M=$(lines)
skopeo copy --src-tls-verify=false --dest-tls-verify=false -q \
  "docker://$R/app:dev-0123456-20251231-000000" "docker://$R/app:staging-skopeo-1" >/dev/null
sleep 0.3
echo "access log: $(since "$M" | wc -l) requests: $(since "$M" | methods)"
since "$M" | awk -F'"' '{print "  " $2}'

echo
echo "== idempotent re-run of gitops promote =="
M=$(lines)
"$GITOPS" promote "$R/app:dev-0123456-20251231-000000" --to-env staging --format json >/dev/null
sleep 0.3
echo "access log: $(since "$M" | wc -l) requests: $(since "$M" | methods)"

echo
echo "== wall time, side by side (fresh tags every run) =="
hyperfine --shell=bash --warmup 2 --runs 20 --export-markdown "$WORK/hyperfine.md" \
  -n "gitops promote (2 tags)" \
  "$GITOPS promote $R/app:dev-0123456-20251231-000000 --to-env staging --tag staging-\$RANDOM\$RANDOM --tag staging-latest-\$RANDOM\$RANDOM --format json" \
  -n "skopeo copy (1 tag)" \
  "skopeo copy --src-tls-verify=false --dest-tls-verify=false -q docker://$R/app:dev-0123456-20251231-000000 docker://$R/app:staging-\$RANDOM\$RANDOM" \
  -n "skopeo copy x2 (the same 2 tags)" \
  "skopeo copy --src-tls-verify=false --dest-tls-verify=false -q docker://$R/app:dev-0123456-20251231-000000 docker://$R/app:staging-\$RANDOM\$RANDOM && skopeo copy --src-tls-verify=false --dest-tls-verify=false -q docker://$R/app:dev-0123456-20251231-000000 docker://$R/app:staging-latest-\$RANDOM\$RANDOM"
cat "$WORK/hyperfine.md"

echo
echo "== gitops push of the same 200 MiB image, every layer present =="
M=$(lines)
"$GITOPS" push "$WORK/layout" --image "$R/app" --tag dev-0123456-20260101-000001 --tag dev-latest --no-annotations --format json >"$WORK/push2.json"
sleep 0.3
echo "access log: $(since "$M" | wc -l) requests: $(since "$M" | methods)"
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print("gitops reports:", d["requests"], "requests,", d["bytes_transferred"], "bytes; blobs present", d["blobs_present"], "uploaded", d["blobs_uploaded"])' "$WORK/push2.json"
