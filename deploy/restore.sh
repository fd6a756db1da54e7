#!/usr/bin/env bash
# Restore a backup made by deploy/backup.sh into a FRESH installation (empty data folder, empty database):
#   SUKF_PROFILE=production SUKF_DATABASE_URL=… SUKF_DATA_DIR=/srv/sukf/data deploy/restore.sh /backup/sukf/2026-12-01
# Then: `sukf doctor --repair` (re-stages accepted versions from the raw archive, rebuilds the release index),
# `sukf republish` or the next `sukf load` (rebuilds the warehouse), `sukf doctor` (must say the installation is whole).
set -euo pipefail
src=${1:?usage: restore.sh BACKUP}
data=${SUKF_DATA_DIR:?set SUKF_DATA_DIR}
pg_restore=${SUKF_PG_BIN:+$SUKF_PG_BIN/}pg_restore
if [ -e "$data/restricted/raw" ] || [ -e "$data/releases/index.json" ]; then
  echo "restore.sh: $data is not empty; restore into a fresh installation" >&2; exit 2
fi
"$pg_restore" --dbname="${SUKF_DATABASE_URL:?set SUKF_DATABASE_URL}" --no-owner --exit-on-error "$src/register.dump"
mkdir -p "$data/restricted"
for part in restricted/raw restricted/reports restricted/local_definitions restricted/portal_secret.key \
            reference releases; do
  [ -e "$src/$part" ] && cp -a "$src/$part" "$data/$(dirname "$part")/"
done
echo "restored into $data; now run: sukf doctor --repair"
