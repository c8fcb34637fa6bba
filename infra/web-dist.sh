#!/usr/bin/env bash
# The web client as static files for any host (S3 behind CloudFront, or another): web/ copied with its one setting,
# the API's URL, written into config.js.
#   infra/web-dist.sh https://abc123.execute-api.eu-west-1.amazonaws.com [out-dir, default .local/web-dist]
set -euo pipefail
cd "$(dirname "$0")/.."
api_url="${1:?usage: infra/web-dist.sh <the API's URL, e.g. the stack's ApiUrl output> [out-dir]}"
out="${2:-.local/web-dist}"
case "$api_url" in
  http://*|https://*) ;;
  *) echo "web-dist: the API's URL starts with https:// (or http:// locally): $api_url" >&2; exit 1 ;;
esac
api_url="${api_url%/}"
rm -rf "$out" && mkdir -p "$out"
cp web/*.html web/*.js web/*.css web/*.svg "$out/"
# JSON string quoting is JavaScript string quoting: the URL cannot break out of the literal.
printf '// Written by infra/web-dist.sh: the API this copy of the web client calls.\nexport const API_URL = %s;\n' \
  "$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$api_url")" > "$out/config.js"
echo "web client for $api_url in $out/ (list its site's origin in the stack's AllowedOrigins unless that is *)"
