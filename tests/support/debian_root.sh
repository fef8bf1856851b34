#!/usr/bin/env bash
# Prints the path of a Debian 12 (bookworm) minbase root file system as a tar file, creating it
# first if it is missing: `debootstrap --variant=minbase bookworm` from the Debian mirror this
# machine's apt already uses (no image registry needed). Tests import it as a base image
# (`podman import`) or unpack it as a chroot.
#
#   tarball=$(tests/support/debian_root.sh)
#
# The tarball is ${GQ_DEBIAN_ROOT_CACHE:-/var/cache/gateway-queue-tests}/bookworm-minbase.tar,
# made once (about a minute) and kept. It appears atomically (built under a temporary name, then
# renamed), and concurrent callers wait for one another on a lock, so a reader never sees half a
# tarball. Only the path goes to stdout; debootstrap's progress goes to stderr. Needs root and
# the package debootstrap.
set -euo pipefail

cache="${GQ_DEBIAN_ROOT_CACHE:-/var/cache/gateway-queue-tests}"
tarball="$cache/bookworm-minbase.tar"

if [ -s "$tarball" ]; then
  echo "$tarball"
  exit 0
fi

# The mirror: the first Debian archive URI in apt's sources that serves `bookworm` itself (not
# -security or -updates), in the one-line format (sources.list) or deb822 (*.sources).
mirror() {
  local file
  for file in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
    [ -r "$file" ] || continue
    awk '$1 == "deb" {
           i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
           if ($(i + 1) == "bookworm") { print $i; exit }
         }' "$file"
  done
  for file in /etc/apt/sources.list.d/*.sources; do
    [ -r "$file" ] || continue
    # deb822: stanzas separated by blank lines; a stanza of Types deb with Suites bookworm.
    awk 'BEGIN { RS = ""; FS = "\n" }
         {
           types = uris = suites = ""
           for (i = 1; i <= NF; i++) {
             if ($i ~ /^Types:/)  types  = " " substr($i, 7) " "
             if ($i ~ /^URIs:/)   uris   = substr($i, 6)
             if ($i ~ /^Suites:/) suites = " " substr($i, 8) " "
           }
           if (types ~ / deb / && suites ~ / bookworm /) { split(uris, u, " "); print u[1]; exit }
         }' "$file"
  done
}

url="${GQ_DEBIAN_MIRROR:-$(mirror | head -n 1)}"
if [ -z "$url" ]; then
  echo "debian_root.sh: no bookworm mirror in /etc/apt/sources.list{,.d} (set GQ_DEBIAN_MIRROR)" >&2
  exit 1
fi
command -v debootstrap >/dev/null || {
  echo "debian_root.sh: debootstrap is not installed (apt-get install debootstrap)" >&2
  exit 1
}

mkdir -p "$cache"
exec 9>"$cache/.bookworm-minbase.lock"
flock 9
if [ -s "$tarball" ]; then  # another caller made it while this one waited
  echo "$tarball"
  exit 0
fi

work="$(mktemp -d "$cache/.bookworm-minbase.XXXXXX")"
cleanup() {
  # debootstrap mounts proc and sys in the target while it runs; a failed run can leave them.
  local m
  for m in "$work/root/proc" "$work/root/sys"; do
    mountpoint -q "$m" 2>/dev/null && umount -l "$m"
  done
  rm -rf --one-file-system "$work"
}
trap cleanup EXIT
echo "debian_root.sh: debootstrap --variant=minbase bookworm from $url" >&2
debootstrap --variant=minbase bookworm "$work/root" "$url" >&2
# The apt lists and .debs debootstrap leaves add nothing an image needs.
rm -rf "$work/root/var/cache/apt/archives/"*.deb "$work/root/var/lib/apt/lists/"*
tar --numeric-owner --xattrs -C "$work/root" -cf "$work/root.tar" .
mv "$work/root.tar" "$tarball"
echo "$tarball"
