#!/bin/sh
# The secrets docker-compose.yml reads, as files under ./secrets/ (never committed: see .gitignore): PostgreSQL's
# password, GradeFlow's database URL that carries it, and Grafana's admin password. Existing files are kept, so
# running it again changes nothing. The directory is the owner's only (700); the files are 644 because compose
# (outside swarm) bind-mounts them as they are, and the services read them as their own non-root users.
set -eu
cd "$(dirname "$0")/.."
mkdir -p secrets
chmod 700 secrets
umask 022
random() { od -An -N24 -tx1 /dev/urandom | tr -d ' \n'; }
[ -s secrets/postgres_password ] || random > secrets/postgres_password
[ -s secrets/gradeflow_database_url ] ||
  printf 'postgresql://gradeflow:%s@postgres:5432/gradeflow' "$(cat secrets/postgres_password)" > secrets/gradeflow_database_url
[ -s secrets/grafana_admin_password ] || random > secrets/grafana_admin_password
echo "secrets in $(pwd)/secrets: postgres_password, gradeflow_database_url, grafana_admin_password"
