#!/usr/bin/env bash
# Build the worker image and check it where a Docker daemon exists (none does on the CI machines,
# so the test suite checks the Dockerfile statically: tests/test_container_image.py).
# Usage: scripts/check_image.sh [TAG]
set -euo pipefail
cd "$(dirname "$0")/.."
tag="${1:-olist-etl:check}"
docker build -t "$tag" .
trap 'docker rmi -f "$tag" >/dev/null' EXIT
uid=$(docker run --rm "$tag" id -u)
[ "$uid" != "0" ] || { echo "the image runs as root" >&2; exit 1; }
docker run --rm "$tag" python -c "import flows.olist_sync, olist_etl.app.cli; print('flow importable')"
docker run --rm "$tag" prefect --version
echo "image $tag: builds, runs as uid $uid, flow importable"
