#!/bin/sh
# Temporal's databases on GradeFlow's PostgreSQL: created when missing, schema brought up to date (idempotent; run by
# the `temporal-schema` compose job before the server starts). Adapted from Temporal's samples-server compose setup.
set -eu
: "${POSTGRES_SEEDS:?}" "${POSTGRES_USER:?}"
SQL_PASSWORD="$(cat /run/secrets/postgres_password)"
export SQL_PASSWORD
PORT="${DB_PORT:-5432}"
SCHEMA=/etc/temporal/schema/postgresql/v12
for db in temporal temporal_visibility; do
  case "$db" in temporal) dir=temporal ;; *) dir=visibility ;; esac
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" --db "$db" create || true
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" --db "$db" setup-schema -v 0.0 || true
  temporal-sql-tool --plugin postgres12 --ep "$POSTGRES_SEEDS" -u "$POSTGRES_USER" -p "$PORT" --db "$db" update-schema -d "$SCHEMA/$dir/versioned"
done
echo "Temporal's schema is up to date"
