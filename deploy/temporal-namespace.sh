#!/bin/sh
# The namespace GradeFlow runs in, created once the server answers (run by the `temporal-namespace` compose job).
set -eu
NAMESPACE="${NAMESPACE:-default}"
for attempt in $(seq 1 60); do
  if temporal operator namespace describe -n "$NAMESPACE" --address "$TEMPORAL_ADDRESS" >/dev/null 2>&1; then
    echo "namespace '$NAMESPACE' exists"
    exit 0
  fi
  if temporal operator namespace create -n "$NAMESPACE" --retention 30d --address "$TEMPORAL_ADDRESS"; then
    echo "namespace '$NAMESPACE' created"
    exit 0
  fi
  echo "Temporal not ready yet (attempt $attempt/60)"
  sleep 5
done
echo "could not create namespace '$NAMESPACE'" >&2
exit 1
