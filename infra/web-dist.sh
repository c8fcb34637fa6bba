#!/usr/bin/env bash
# The web client as static files for any host (S3 behind CloudFront, or another): web/ copied with its one setting,
# the API's URL, written into config.js.
#   infra/web-dist.sh https://abc123.execute-api.eu-west-1.amazonaws.com [out-dir, default .local/web-dist]
set -euo pipefail
cd "$(dirname "$0")/.."
api_url="${1:?usage: infra/web-dist.sh <the API's URL, e.g. the stack's ApiUrl output> [out-dir]}"
out="${2:-.local/web-dist}"
url_shape='^https?://[A-Za-z0-9.:-]+(/[A-Za-z0-9._~/-]*)?$'
if ! [[ "$api_url" =~ $url_shape ]]; then
  echo "web-dist: not an API URL like https://abc123.execute-api.eu-west-1.amazonaws.com: $api_url" >&2
  exit 1
fi
api_url="${api_url%/}"
rm -rf "$out" && mkdir -p "$out"
cp web/*.html web/*.js web/*.css web/*.svg "$out/"
# JSON string quoting is JavaScript string quoting: the URL cannot break out of the literal.
printf '// Written by infra/web-dist.sh: the API this copy of the web client calls.\nexport const API_URL = %s;\n' \
  "$(python3 -c 'import json, sys; print(json.dumps(sys.argv[1]))' "$api_url")" > "$out/config.js"
# The page may then talk to that API alone (its Content-Security-Policy's connect-src, which allows any in web/).
origin="$(python3 -c 'import sys, urllib.parse; u = urllib.parse.urlsplit(sys.argv[1]); print(f"{u.scheme}://{u.netloc}")' "$api_url")"
sed -i "s#connect-src 'self' http: https:#connect-src 'self' $origin#" "$out/index.html"
grep -q "connect-src 'self' $origin;" "$out/index.html" || { echo "web-dist: index.html's CSP has no connect-src to pin" >&2; exit 1; }
echo "web client for $api_url in $out/ (list its site's origin in the stack's AllowedOrigins unless that is *)"
