#!/usr/bin/env bash
# Makes a minimal base image from this machine's own Node.js, for places where no image
# registry can be reached (CI here): the node binary, every library it and LevelDB's native
# addon link against, /etc/passwd and /tmp. No shell, no package manager.
#
#   deploy/make-base-image.sh [IMAGE]      (default IMAGE: raftkv-base:local)
set -euo pipefail
image="${1:-raftkv-base:local}"
root_dir="$(cd "$(dirname "$0")/.." && pwd)"
node_bin="$(command -v node)"
staging="$(mktemp -d)"
trap 'rm -rf "$staging"' EXIT

copy_with_libs() {
  local file="$1"
  mkdir -p "$staging$(dirname "$file")"
  cp -L "$file" "$staging$file"
  # ldd prints "name => /path (addr)" or "/path (addr)" for the loader itself.
  ldd "$file" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}' | while read -r lib; do
    mkdir -p "$staging$(dirname "$lib")"
    cp -L "$lib" "$staging$lib"
  done
}

copy_with_libs "$node_bin"
if [ "$node_bin" != /usr/bin/node ]; then
  mkdir -p "$staging/usr/bin"
  cp -L "$node_bin" "$staging/usr/bin/node"
fi
# LevelDB's prebuilt addon for this platform, and whatever it links against.
addon="$(find "$root_dir/node_modules/classic-level/prebuilds/linux-x64" -name '*.node' | head -n 1)"
[ -n "$addon" ] || { echo "make-base-image: no classic-level prebuild found; run npm ci first" >&2; exit 1; }
ldd "$addon" | awk '/=> \//{print $3}' | while read -r lib; do
  mkdir -p "$staging$(dirname "$lib")"
  cp -L "$lib" "$staging$lib"
done
mkdir -p "$staging/etc" "$staging/tmp"
chmod 1777 "$staging/tmp"
echo 'root:x:0:0:root:/root:/usr/sbin/nologin' > "$staging/etc/passwd"
echo 'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin' >> "$staging/etc/passwd"
tar -C "$staging" -c . | docker import --change 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$image" >/dev/null
echo "$image"
