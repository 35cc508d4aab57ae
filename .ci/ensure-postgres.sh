#!/usr/bin/env bash
# Makes sure a PostgreSQL server answers on 127.0.0.1:5432 with trust auth for the users postgres and root, and
# that the databases postgres and test exist. Installs Debian's postgresql if it is missing, starts the cluster
# without systemd, and is idempotent: a no-op where the server already runs. Needs root.
# The project's own copy of the workplace's script, so CI does not depend on a folder outside the clone.
set -euo pipefail
ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
if ! ready; then
  if ! ls -d /etc/postgresql/*/main >/dev/null 2>&1; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  v=$(ls /etc/postgresql | sort -V | tail -n 1)
  conf=/etc/postgresql/$v/main
  if ! grep -q '^# trust-for-tests' "$conf/pg_hba.conf"; then
    tmp=$(mktemp)
    printf '# trust-for-tests\nlocal all all trust\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\n' > "$tmp"
    cat "$conf/pg_hba.conf" >> "$tmp" && cat "$tmp" > "$conf/pg_hba.conf" && rm -f "$tmp"
  fi
  grep -qE "^listen_addresses" "$conf/postgresql.conf" || echo "listen_addresses = 'localhost'" >> "$conf/postgresql.conf"
  pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || pg_ctlcluster "$v" main start
  for _ in $(seq 1 60); do ready && break; sleep 0.5; done
  ready || { echo "ensure-postgres: the server did not come up" >&2; exit 1; }
fi
psql -h 127.0.0.1 -U postgres -d postgres -qtAc "select 1 from pg_roles where rolname='root'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create role root superuser login" >/dev/null
psql -h 127.0.0.1 -U postgres -d postgres -qtAc "select 1 from pg_database where datname='test'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -d postgres -qc "create database test" >/dev/null
# The WAL settings deploy/postgresql/edigate.conf recommends to operators, so that CI and the benchmarks measure
# what is recommended (issue 14: a purge beside the live service wrote ~80 % of its WAL as full-page images, with a
# checkpoint every ~540 MB of WAL under the distribution's max_wal_size = 1GB). Reload-level settings only; the
# ones that need a restart (shared_buffers) stay the distribution's here.
recommended="max_wal_size=2GB checkpoint_timeout=15min wal_compression=lz4"
changed=0
for kv in $recommended; do
  key=${kv%%=*} want=${kv#*=}
  now=$(psql -h 127.0.0.1 -U postgres -d postgres -qtAc "select current_setting('$key')")
  if [ "$now" != "$want" ]; then
    psql -h 127.0.0.1 -U postgres -d postgres -qc "ALTER SYSTEM SET $key = '$want'" >/dev/null
    changed=1
  fi
done
[ "$changed" = 0 ] || psql -h 127.0.0.1 -U postgres -d postgres -qtAc "select pg_reload_conf()" >/dev/null
echo "ensure-postgres: ready on 127.0.0.1:5432"
