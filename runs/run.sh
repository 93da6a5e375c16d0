#!/usr/bin/env bash
# The long runs of issue 15, one page after another, into the committed store runs/store (a stopped run
# resumes: `bash runs/run.sh` again). Each page: python -m roarkit run PAGE --profile P on Ray, both cores
# (WORKERS=1 leaves one core to other work).
set -uo pipefail
cd "$(dirname "$0")/.."
export ROARKIT_CACHE="$PWD/runs/store" ROARKIT_PROGRESS=1
[ -n "${ROARKIT_DATA:-}" ] || [ ! -d ../shared/data ] || export ROARKIT_DATA="$(cd ../shared/data && pwd)"
for spec in "$@"; do
  page=${spec%%:*}; profile=${spec#*:}
  echo "== $(date -u +%FT%TZ) $page --profile $profile"
  .venv/bin/python -m roarkit run "$page" --profile "$profile" --executor ray --workers "${WORKERS:-2}" --no-build
  rc=$?
  echo "== $(date -u +%FT%TZ) $page exit $rc"
done
