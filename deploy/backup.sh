#!/usr/bin/env bash
# Nightly backup of a production-profile installation (docs/DEPLOYMENT.md, "Backups"): what cannot be derived.
#   SUKF_DATABASE_URL=… SUKF_DATA_DIR=/srv/sukf/data deploy/backup.sh /backup/sukf/2026-12-01
# 1. the register, tokens and sessions (schema sukf) as a pg_dump in custom format; FIRST, so every file the
#    dump names is already in the raw archive (bytes are archived before they are registered);
# 2. the raw archive (immutable, content-addressed: an rsync only copies new files), reference inputs,
#    reports, local-variable definitions and the portal signing key;
# 3. the published vintages with their hard links (public, but their numbering is history).
set -euo pipefail
dest=${1:?usage: backup.sh DEST}
data=${SUKF_DATA_DIR:?set SUKF_DATA_DIR}
pg_dump=${SUKF_PG_BIN:+$SUKF_PG_BIN/}pg_dump
mkdir -p "$dest/restricted"
"$pg_dump" --dbname="${SUKF_DATABASE_URL:?set SUKF_DATABASE_URL}" --schema=sukf --format=custom \
  --file="$dest/register.dump.tmp"
mv "$dest/register.dump.tmp" "$dest/register.dump"
copy() {  # copy FROM TO: incremental with rsync where installed, else cp -a
  [ -e "$1" ] || return 0
  if command -v rsync >/dev/null 2>&1; then rsync -a --hard-links "$1" "$(dirname "$2")/"; else cp -a "$1" "$(dirname "$2")/"; fi
}
for part in restricted/raw restricted/reports restricted/local_definitions restricted/portal_secret.key \
            reference releases; do
  copy "$data/$part" "$dest/$part"
done
echo "backup: $dest"
