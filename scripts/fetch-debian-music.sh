#!/usr/bin/env bash
# Fetches the Ogg Vorbis soundtrack of Debian's drascula-music package (third-party music,
# GPL) into a folder, for the test that ingests and plays real-world files.
# Usage: scripts/fetch-debian-music.sh <dir>   — prints the folder holding the .ogg files.
set -euo pipefail
dest=${1:-.cache/debian-music}
mkdir -p "$dest"
if ! ls "$dest"/usr/share/scummvm/drascula/audio/*.ogg >/dev/null 2>&1; then
  tmp=$(mktemp -d)
  chmod 777 "$tmp"
  (cd "$tmp" && apt-get download drascula-music >/dev/null 2>&1) || {
    apt-get update -qq >/dev/null 2>&1 || true
    (cd "$tmp" && apt-get download drascula-music >/dev/null 2>&1)
  }
  dpkg-deb -x "$tmp"/drascula-music_*.deb "$dest"
  rm -rf "$tmp"
fi
echo "$(cd "$dest" && pwd)/usr/share/scummvm/drascula/audio"
