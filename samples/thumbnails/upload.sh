#!/usr/bin/env bash
# Uploads every image in images/ (or the files given) to the deployed API with curl:
#   ./upload.sh                      uses the API URL of the deployed stack
#   API=http://.../execute-api/ID ./upload.sh images/landscape.jpg
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
endpoint=${DYNAROCK_ENDPOINT:-http://127.0.0.1:8000}
if [ -z "${API:-}" ]; then
  API=$(curl -sf "$endpoint/dynarock/stacks/thumbnails" -H 'Authorization: AWS4-HMAC-SHA256 Credential=x/20260101/us-east-1/cloudformation/aws4_request, SignedHeaders=host, Signature=0' \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Outputs"]["ApiUrl"])')
fi
files=("$@")
[ ${#files[@]} -gt 0 ] || files=("$here"/images/*)
for f in "${files[@]}"; do
  name=$(basename "$f")
  type=$(python3 -c 'import mimetypes,sys; print(mimetypes.guess_type(sys.argv[1])[0] or "application/octet-stream")' "$f")
  printf '%-16s ' "$name"
  curl -sS -X POST "$API/images/$name" -H "content-type: $type" --data-binary "@$f"
  echo
done
echo "thumbnails: $API/thumbnails/NAME"
