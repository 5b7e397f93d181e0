#!/usr/bin/env bash
# Installs the Debian packages palisade's demo, tests and benchmarks need, if any is missing.
# iproute2: network namespaces and veth pairs for the labs. nftables, ipset, iptables: the
# reference tools tests and benchmarks compare against (palisade itself never runs them).
# nginx, wrk: the web server and the load generator of `palisade-bench blocking` (it runs its
# own nginx in a namespace, never the package's service); fonts-dejavu-core: its plot's font.
set -euo pipefail
need=()
command -v ip >/dev/null || need+=(iproute2)
command -v nft >/dev/null || need+=(nftables)
command -v ipset >/dev/null || need+=(ipset)
command -v iptables >/dev/null || need+=(iptables)
command -v nginx >/dev/null || need+=(nginx)
command -v wrk >/dev/null || need+=(wrk)
[[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]] || need+=(fonts-dejavu-core)
if ((${#need[@]})); then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
