#!/usr/bin/env bash
# The README's `arbor serve` examples, run line by line by ReadmeCurlTest against a started
# server (`arbor serve tiny:prod`, prod -> tiny@1). README.md shows the same lines with $B written
# as localhost:8000: keep the two in sync.
# Usage: readme-curl.sh [BASE]   (default localhost:8000; `arbor` must be on PATH for the tag line)
set -euo pipefail
B=${1:-localhost:8000}
curl -s $B/health
curl -s $B/v1/models
curl -s $B/v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":32,"temperature":0}'
curl -s $B/v1/completions -H 'Content-Type: application/json' -d '{"model":"tiny","prompt":"Once upon a time","max_tokens":32,"temperature":0}'
curl -sN $B/v1/chat/completions -H 'Content-Type: application/json' -d '{"model":"tiny","messages":[{"role":"user","content":"Hello"}],"max_tokens":32,"stream":true,"stream_options":{"include_usage":true}}'
curl -s $B/metrics | grep ^arbor_
curl -s -X POST $B/admin/deploy -d '{"ref":"tiny@2"}'
curl -s $B/admin/versions
arbor tag tiny@2 tiny:prod
curl -s -X POST $B/admin/rollback -d '{"tag":"prod"}'
