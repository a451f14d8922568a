#!/usr/bin/env bash
# Pin the third-party images of the stack to the digest their tag names today, so that
# `docker compose up` and `docker build` run exactly the images that were tested, and a
# re-pushed tag changes nothing until this script is run again and its diff reviewed.
#
#   deploy/pin-images.sh                # rewrites deploy/docker-compose.yml and deploy/Dockerfile
#   deploy/pin-images.sh FILE [FILE...] # other files
#
# Each `image: NAME:TAG[@sha256:...]` line of a compose file and each `FROM NAME:TAG[@...]`
# line of a Dockerfile becomes NAME:TAG@sha256:<digest of the tag now>. The digest is the
# multi-platform index's (the same on amd64 and arm64 hosts), read with
#   docker buildx imagetools inspect NAME:TAG --format '{{json .Manifest}}'
# or, without buildx, after `docker pull NAME:TAG`, with
#   docker inspect --format '{{index .RepoDigests 0}}' NAME:TAG
# (the latter is the same index digest when pulled by tag). The project's own image
# (mes-integration:...) is built, not pulled, and is left alone. Needs Docker and access
# to the registry; run it, review `git diff`, commit.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
if [ $# -eq 0 ]; then
  set -- "$ROOT/deploy/docker-compose.yml" "$ROOT/deploy/Dockerfile"
fi
command -v docker >/dev/null || { echo "[pin-images] docker não encontrado" >&2; exit 1; }

digest_of() {  # NAME:TAG -> sha256:...
  local ref=$1 out
  if out=$(docker buildx imagetools inspect "$ref" --format '{{json .Manifest}}' 2>/dev/null); then
    # The first "digest" is the index's own (the per-platform ones follow in "manifests").
    out=$(printf '%s' "$out" | grep -o '"digest": *"sha256:[0-9a-f]\{64\}"' | head -n1 \
      | grep -o 'sha256:[0-9a-f]\{64\}' || true)
  else
    docker pull -q "$ref" >/dev/null
    out=$(docker inspect --format '{{index .RepoDigests 0}}' "$ref")
    out=${out##*@}
  fi
  if ! printf '%s' "$out" | grep -Eq '^sha256:[0-9a-f]{64}$'; then
    echo "[pin-images] sem digest para $ref (resposta: ${out:-vazia})" >&2
    return 1
  fi
  printf '%s' "$out"
}

for file in "$@"; do
  # image: NAME:TAG or FROM NAME:TAG [AS x], with or without an old digest; skip our own
  # image and anything with a variable in it.
  refs=$(sed -n -E \
    -e 's/^[[:space:]]*image:[[:space:]]*"?([^"[:space:]$@]+:[^"[:space:]$@]+)(@sha256:[0-9a-f]{64})?"?[[:space:]]*$/\1/p' \
    -e 's/^FROM[[:space:]]+([^[:space:]$@]+:[^[:space:]$@]+)(@sha256:[0-9a-f]{64})?([[:space:]].*)?$/\1/p' \
    "$file" | grep -v '^mes-integration:' | sort -u || true)
  for ref in $refs; do
    digest=$(digest_of "$ref")
    escaped=$(printf '%s' "$ref" | sed 's/[.[\*^$/]/\\&/g')
    sed -i -E \
      -e "s/^([[:space:]]*image:[[:space:]]*\"?)${escaped}(@sha256:[0-9a-f]{64})?/\1${ref//\//\\/}@${digest}/" \
      -e "s/^(FROM[[:space:]]+)${escaped}(@sha256:[0-9a-f]{64})?/\1${ref//\//\\/}@${digest}/" \
      "$file"
    echo "$file: $ref@$digest"
  done
done
