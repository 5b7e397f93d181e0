#!/usr/bin/env bash
# Installs the Debian packages palisade's demo, tests and benchmarks need, if any is missing.
# iproute2: network namespaces and veth pairs for the labs. nftables, ipset, iptables: the
# reference tools tests and benchmarks compare against (palisade itself never runs them).
# libpam0g-dev: pam_palisade.so links libpam. pamtester, otpw-bin, libpam-otpw: the OTP tests
# and demo drive real PAM, and check compatibility with Debian's OTPW. openssh-server and
# -client: the OTP test that logs in through a real sshd (its own, on a loopback port).
# nginx, wrk: the web server and the load generator of `palisade-bench blocking` (it runs its
# own nginx in a namespace, never the package's service); fonts-dejavu-core: its plot's font.
# clang: compiles palisade-xdp's XDP program (-target bpf) at build time; netsniff-ng: trafgen,
# the flood generator of palisade-xdp's benchmark.
# nats-server: the fleet tests and benchmark run their own JetStream servers in namespaces.
# util-linux: setpriv, with which a test runs palisade without BPF capabilities.
# prometheus: its promtool checks the metrics exposition; curl: scrapes `palisade serve`.
# mmdebstrap, dpkg-dev: scripts/package.sh and the clean root scripts/test-package.sh
# installs the package into.
# systemd-journal-remote: the log watcher's journal test writes a real journal file with it
# (the export format in, as a collector of remote journals does) for palisade to follow.
# fail2ban: the reference of `palisade-bench watch`/`watch-match` (fail2ban-regex on the same
# log) and of the jails' development harnesses (its filters and annotated test logs, read in
# place, never copied); policy-rc.d keeps its service from starting.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v ipset >/dev/null || need+=(ipset)
command -v iptables >/dev/null || need+=(iptables)
compgen -G '/usr/lib/*/libpam.so' >/dev/null || need+=(libpam0g-dev)
command -v pamtester >/dev/null || need+=(pamtester)
command -v otpw-gen >/dev/null || need+=(otpw-bin)
compgen -G '/lib/*security/pam_otpw.so' >/dev/null || need+=(libpam-otpw)
[[ -x /usr/sbin/sshd ]] || need+=(openssh-server)
command -v ssh-keygen >/dev/null || need+=(openssh-client)
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
command -v clang >/dev/null || need+=(clang)
command -v trafgen >/dev/null || need+=(netsniff-ng)
command -v nats-server >/dev/null || need+=(nats-server)
command -v setpriv >/dev/null || need+=(util-linux)
command -v promtool >/dev/null || need+=(prometheus)
command -v curl >/dev/null || need+=(curl)
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v dpkg-shlibdeps >/dev/null || need+=(dpkg-dev)
[[ -x /lib/systemd/systemd-journal-remote ]] || need+=(systemd-journal-remote)
command -v fail2ban-regex >/dev/null || need+=(fail2ban)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  # Packages must not start their services on this host (openssh-server would start the
  # system's sshd); a policy-rc.d answering 101 tells Debian's maintainer scripts so.
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 755 /usr/sbin/policy-rc.d
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
