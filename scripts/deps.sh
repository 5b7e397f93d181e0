#!/usr/bin/env bash
# Installs the Debian packages palisade's demo, tests and benchmarks need, if any is missing.
# iproute2: network namespaces and veth pairs for the labs. nftables, ipset, iptables: the
# reference tools tests and benchmarks compare against (palisade itself never runs them).
# libpam0g-dev: pam_palisade.so links libpam. pamtester, otpw-bin, libpam-otpw: the OTP tests
# and demo drive real PAM, and check compatibility with Debian's OTPW.
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
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
