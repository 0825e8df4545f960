#!/bin/sh
# Send events over HTTP to the collector of `streamkpi stripe webhook` (docs/events.md).
#
#   STREAMKPI_COLLECTOR_TOKEN=s3cret streamkpi stripe webhook --bootstrap 127.0.0.1:9092 &
#   STREAMKPI_COLLECTOR_TOKEN=s3cret sh collector_curl.sh [URL]
#
# The answer (200 once Kafka acknowledged the accepted events) lists each
# event's outcome: accepted, or the rejection reason of docs/events.md.
set -eu
URL="${1:-http://127.0.0.1:8787/events}"
curl -sS --fail-with-body "$URL" \
  -H "Authorization: Bearer $STREAMKPI_COLLECTOR_TOKEN" \
  -H "Content-Type: application/json" \
  --data-binary @- <<'JSON'
[
  {"event_id": "signup-u42", "type": "signup", "ts": "2026-12-01T09:30:00Z",
   "user_id": "u42", "channel": "ads"},
  {"event_id": "use-u42-1", "type": "usage", "ts": "2026-12-01T09:31:00Z",
   "user_id": "u42", "customer_id": "c7", "feature": "reports"},
  {"event_id": "csat-c7-1", "type": "csat.response", "ts": "2026-12-01T09:32:00Z",
   "customer_id": "c7", "score": 9}
]
JSON
echo
