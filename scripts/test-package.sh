#!/usr/bin/env bash
# Tests the Debian package: builds it twice (the two must be identical byte for byte), then
# installs it with dpkg into a clean Debian 12 root (mmdebstrap, minbase plus systemd and
# man-db, kept in target/debian/ for a week) and checks, inside that root:
#   - installing enables and starts nothing;
#   - `palisade --version`, and `palisade check -c` on every shipped example (run in a network
#     namespace of its own: check reads nftables, and the host's must not be touched);
#   - `systemd-analyze verify` on every unit, man page references included;
#   - the man page and completions are where shells and man look;
#   - purge removes the package and its state directory.
# Needs root and mmdebstrap (scripts/deps.sh). Under CI=true a missing requirement fails;
# elsewhere it skips with a message.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=""
((EUID == 0)) || missing="root"
command -v mmdebstrap >/dev/null || missing="${missing:+$missing, }mmdebstrap"
if [[ -n $missing ]]; then
  if [[ -n ${CI:-} ]]; then
    echo "test-package.sh: needs $missing, and CI=true forbids skipping" >&2
    exit 1
  fi
  echo "test-package.sh: skipped (needs $missing)"
  exit 0
fi

fail() { echo "test-package.sh: FAILED: $*" >&2; exit 1; }

./scripts/package.sh >/dev/null
deb=$(ls target/debian/palisade_*.deb)
first=$(sha256sum "$deb" | cut -d' ' -f1)
./scripts/package.sh --no-build >/dev/null
second=$(sha256sum "$deb" | cut -d' ' -f1)
[[ $first == "$second" ]] || fail "two builds of the package from the same binaries differ"
echo "package: $deb (reproducible: sha256 $first)"

base=target/debian/bookworm-minbase.tar
if [[ ! -f $base ]] || [[ -n $(find "$base" -mtime +7) ]]; then
  echo "making a clean Debian 12 root with mmdebstrap (once a week)..."
  # mmdebstrap picks its output format from the extension: the temporary name ends in .tar.
  mmdebstrap --quiet --variant=minbase --include=systemd,man-db bookworm "${base%.tar}.new.tar" \
    http://deb.debian.org/debian
  mv "${base%.tar}.new.tar" "$base"
fi

root=$(mktemp -d /tmp/palisade-pkg-root.XXXXXX)
ns=pal-pkg-$$
cleanup() {
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$root"
}
trap cleanup EXIT
tar -xf "$base" -C "$root"
cp "$deb" "$root/tmp/palisade.deb"
in_root() { chroot "$root" "$@"; }
# Inside a network namespace of our own, with /proc mounted for the root (ip netns exec gives
# the command a mount namespace of its own, so the mount goes away with it).
ip netns add "$ns"
in_ns_root() {
  ip netns exec "$ns" sh -c 'mount -t proc proc "$0/proc" && exec chroot "$0" "$@"' "$root" "$@"
}

in_root dpkg -i /tmp/palisade.deb >/dev/null || fail "dpkg -i"
if find "$root/etc/systemd/system" -name 'palisade*' | grep -q .; then
  fail "installing enabled a unit: $(find "$root/etc/systemd/system" -name 'palisade*')"
fi
version=$(in_root palisade --version)
[[ $version == "palisade $(dpkg-deb -f "$deb" Version)" ]] || fail "palisade --version said: $version"
echo "installed: $version"

for example in "$root"/usr/share/doc/palisade/examples/*.toml; do
  name=/usr/share/doc/palisade/examples/$(basename "$example")
  out=$(in_ns_root env PALISADE_STATE_DIR=/tmp/palisade-state palisade check -c "$name" 2>&1) \
    || fail "palisade check -c $name: $out"
  echo "check: ${out##*$'\n'}"
done

units=$(cd "$root" && ls usr/lib/systemd/system/palisade* | sed 's|^|/|')
out=$(in_ns_root systemd-analyze verify $units 2>&1) || fail "systemd-analyze verify: $out"
[[ -z $out ]] || fail "systemd-analyze verify found problems: $out"
echo "systemd-analyze verify: clean for $(echo $units | wc -w) units"

in_root man -w palisade >/dev/null || fail "man does not find palisade(8)"
for f in /usr/share/bash-completion/completions/palisade /usr/share/zsh/vendor-completions/_palisade \
  /usr/share/fish/vendor_completions.d/palisade.fish; do
  grep -q serve "$root$f" || fail "$f does not complete the serve command"
done
[[ -f $root/usr/lib/x86_64-linux-gnu/security/pam_palisade.so || $(dpkg --print-architecture) != amd64 ]] \
  || fail "pam_palisade.so is not in the multiarch PAM directory"
[[ $(stat -c %a "$root/var/lib/palisade") == 700 ]] || fail "/var/lib/palisade is not 0700"

touch "$root/var/lib/palisade/saved.state"
in_root dpkg --purge palisade >/dev/null || fail "dpkg --purge"
[[ ! -e $root/usr/sbin/palisade && ! -e $root/var/lib/palisade ]] || fail "purge left files behind"
echo "test-package.sh: ok"
