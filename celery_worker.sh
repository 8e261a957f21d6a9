#!/usr/bin/env bash
# Start a Celery worker for one queue group.
#
#   ./celery_worker.sh email|files|ai|reports|default   one group (what `make run` starts, one each)
#   ./celery_worker.sh all                                one worker on all five queues (a scale-out host)
#   ./celery_worker.sh                                    same as `all`
#   ./celery_worker.sh check                              print the settings in use and test the broker,
#                                                         Redis and file store (exit 1 when one fails)
#
# On a worker host of its own it needs only: CELERY_BROKER_URL (or REDIS_URL), REDIS_URL (results and
# the console's store), FILE_STORE=s3 with S3_BUCKET / S3_ENDPOINT_URL / S3_ACCESS_KEY_ID /
# S3_SECRET_ACCESS_KEY (no disk shared with the console), plus SMTP_* for the email group and
# ANTHROPIC_API_KEY / OPENAI_API_KEY for the ai group. WORKER_QUEUES (comma-separated) replaces the
# group's queues.
#
# Concurrency per group: EMAIL_CONCURRENCY (2), FILES_CONCURRENCY (2), AI_CONCURRENCY (2),
# REPORTS_CONCURRENCY (1), DEFAULT_CONCURRENCY (1), ALL_CONCURRENCY (number of CPUs).
# Prefork pool everywhere so soft/hard time limits are enforced. The document groups (files, reports)
# recycle a pool process after MAX_TASKS_PER_CHILD (100) tasks, so memory fragmented by large files
# is returned; the others keep their processes. Extra arguments go to `celery worker`.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x .venv/bin/celery ] && ! command -v celery >/dev/null 2>&1; then PATH="$PWD/.venv/bin:$PATH"; fi

group="${1:-all}"
if [ "$group" = check ]; then  # the Python that runs celery
  py="$(dirname "$(command -v celery)")/python"; [ -x "$py" ] || py="$(command -v python3)"
  exec "$py" -m app.monitor.worker_check
fi
recycle=0
[ $# -gt 0 ] && shift
case "$group" in
  email)   queues=email_queue;            concurrency="${EMAIL_CONCURRENCY:-2}" ;;
  files)   queues=file_processing_queue;  concurrency="${FILES_CONCURRENCY:-2}"; recycle=1 ;;
  ai)      queues=ai_queue;               concurrency="${AI_CONCURRENCY:-2}" ;;
  reports) queues=reports_queue;          concurrency="${REPORTS_CONCURRENCY:-1}"; recycle=1 ;;
  default) queues=default_queue;          concurrency="${DEFAULT_CONCURRENCY:-1}" ;;
  all)     queues=email_queue,file_processing_queue,ai_queue,reports_queue,default_queue
           concurrency="${ALL_CONCURRENCY:-$(nproc 2>/dev/null || echo 2)}" ;;
  *) echo "unknown queue group '$group' (email, files, ai, reports, default, all)" >&2; exit 2 ;;
esac

# Node name <group>.<start id>@<host>: a fresh start id per start (WORKER_START_ID overrides), so a
# restarted worker is a different node and the monitor / "why stuck?" can tell it from the one that
# held a task before a kill.
queues="${WORKER_QUEUES:-$queues}"
start_id="${WORKER_START_ID:-$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n')}"
extra=()
[ "$recycle" = 1 ] && extra=(--max-tasks-per-child "${MAX_TASKS_PER_CHILD:-100}")
exec celery -A config.celery_config worker --pool prefork --concurrency "$concurrency" \
  -Q "$queues" -n "${group}.${start_id}@%h" --loglevel "${LOGLEVEL:-INFO}" "${extra[@]}" "$@"
