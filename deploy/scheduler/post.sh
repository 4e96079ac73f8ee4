#!/bin/sh
# POST to one of the API's cron endpoints with the admin key: `post.sh /v1/retrain` queues
# retraining, `post.sh /v1/drift/run` computes drift metrics; both answer with what they did.
# Run by crond in the scheduler service (see crontab). Busybox wget because the Alpine image has
# it: it counts 2xx as success and exits non-zero on a 4xx or 5xx answer, so a refused key or a
# down API shows in the log. The body is an empty JSON object: every series, the API's defaults.
set -eu

if [ "$#" -ne 1 ]; then
    echo "usage: post.sh /v1/<endpoint>" >&2
    exit 2
fi
url="${API_URL:-http://api:8000}$1"

stamp() {
    date -u +%Y-%m-%dT%H:%M:%SZ
}

if [ -z "${LINECAST_ADMIN_KEY:-}" ]; then
    echo "$(stamp) POST $1: LINECAST_ADMIN_KEY is empty; nothing sent" >&2
    exit 2
fi

if answer=$(wget -q -O - -T 60 \
    --header "Authorization: Bearer ${LINECAST_ADMIN_KEY}" \
    --header "Content-Type: application/json" \
    --post-data '{}' "$url"); then
    echo "$(stamp) POST $1: ${answer}"
else
    status=$?
    echo "$(stamp) POST ${url} failed (wget exit ${status})" >&2
    exit 1
fi
