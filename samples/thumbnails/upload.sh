#!/usr/bin/env bash
# Uploads every image in images/ (or the files given) to the deployed API with curl.
#   API=http://127.0.0.1:8000/execute-api/ID ./upload.sh [FILE ...]
# API is the ApiUrl output `dynarock deploy` printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ -z "${API:-}" ]; then
  echo "set API to the ApiUrl that dynarock deploy printed" >&2
  exit 2
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/images/*)
for f in "${files[@]}"; do
  name=$(basename "$f")
  case "$name" in
    *.jpg|*.jpeg) type=image/jpeg ;;
    *.png) type=image/png ;;
    *.webp) type=image/webp ;;
    *.gif) type=image/gif ;;
    *) type=application/octet-stream ;;
  esac
  printf '%-16s ' "$name"
  curl -sS -X POST "$API/images/$name" -H "content-type: $type" --data-binary "@$f"
  echo
done
echo "thumbnails: $API/thumbnails/NAME"
