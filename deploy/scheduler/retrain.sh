#!/bin/sh
# Queue retraining: POST /v1/retrain with the admin key, as the API answers 202 Accepted.
# Run by crond in the scheduler service (see crontab). Busybox wget because the Alpine image has
# it: it counts 202 as success and exits non-zero on a 4xx or 5xx answer, so a refused key or a
# down API shows in the log. The body is an empty JSON object: retrain with the API's defaults.
set -eu

url="${RETRAIN_URL:-http://api:8000/v1/retrain}"

stamp() {
    date -u +%Y-%m-%dT%H:%M:%SZ
}

if [ -z "${LINECAST_ADMIN_KEY:-}" ]; then
    echo "$(stamp) retrain: LINECAST_ADMIN_KEY is empty; nothing sent" >&2
    exit 2
fi

if answer=$(wget -q -O - -T 60 \
    --header "Authorization: Bearer ${LINECAST_ADMIN_KEY}" \
    --header "Content-Type: application/json" \
    --post-data '{}' "$url"); then
    echo "$(stamp) retrain: queued: ${answer}"
else
    status=$?
    echo "$(stamp) retrain: POST ${url} failed (wget exit ${status})" >&2
    exit 1
fi
