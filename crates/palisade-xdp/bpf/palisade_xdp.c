/* palisade's XDP early drop: drop packets whose source address is in a drop set.
 *
 * Why XDP: under a flood from listed sources even nftables' earliest hook pays for an skb per
 * packet; here the driver's receive path drops the packet before one is built.
 *
 * What it does, per packet:
 *   1. Parse Ethernet (and up to two VLAN tags), then the IPv4 or IPv6 source address. Anything
 *      else (ARP, truncated headers, other protocols) passes untouched: this program only ever
 *      removes packets, so when in doubt it passes and nftables decides.
 *   2. Look the source up in the drop trie of its family. The longest matching prefix wins. If
 *      that entry is timed and its deadline has passed, look again with a shorter prefix limit
 *      (an expired ban must never drop, but a network that also covers the address still may).
 *   3. If an unexpired entry matched, check the allowlist trie: an allowlisted address passes
 *      even inside a listed network. (Checking the allowlist only when a drop is due gives the
 *      same verdicts as checking it first, and costs one lookup less for ordinary traffic.)
 *   4. Count the verdict per set in a per-CPU array and drop.
 *
 * The layout of keys, values and counter slots is shared with src/layout.rs; change both.
 *
 * Built by build.rs with Debian's clang (-target bpf), without kernel or libbpf headers: the
 * handful of constants, helper ids and map macros needed are defined below from the kernel's
 * UAPI (include/uapi/linux/bpf.h), so the build needs clang only. The kernel's verifier checks
 * every access of this program when it is loaded. */

typedef unsigned char __u8;
typedef unsigned short __u16;
typedef unsigned int __u32;
typedef unsigned long long __u64;

#define SEC(name) __attribute__((section(name), used))
#define __always_inline inline __attribute__((always_inline))
/* BTF-defined map attributes, as libbpf spells them: the value is encoded in an array size. */
#define __uint(name, val) int(*name)[val]
#define __type(name, val) typeof(val) *name

/* include/uapi/linux/bpf.h */
#define BPF_MAP_TYPE_PERCPU_ARRAY 6
#define BPF_MAP_TYPE_LPM_TRIE 11
#define BPF_F_NO_PREALLOC 1
#define XDP_DROP 1
#define XDP_PASS 2
/* libbpf's pinning convention, which aya follows: pin under the map's own name. */
#define LIBBPF_PIN_BY_NAME 1

struct xdp_md {
	__u32 data;
	__u32 data_end;
	__u32 data_meta;
	__u32 ingress_ifindex;
	__u32 rx_queue_index;
	__u32 egress_ifindex;
};

/* Helper ids from the kernel's __BPF_FUNC_MAPPER. */
static void *(*bpf_map_lookup_elem)(void *map, const void *key) = (void *)1;
static __u64 (*bpf_ktime_get_ns)(void) = (void *)5;

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "palisade_xdp.c assumes a little-endian target (bpfel)"
#endif
#define be16(x) ((__u16)__builtin_bswap16(x))

#define ETH_HLEN 14
#define ETH_P_IP 0x0800
#define ETH_P_IPV6 0x86DD
#define ETH_P_8021Q 0x8100
#define ETH_P_8021AD 0x88A8

/* Keys: struct bpf_lpm_trie_key (prefix length in host order, then the address in network
 * order). */
struct key_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};
struct key_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

/* Value of a drop entry. expires_ns: 0 for a permanent entry, else the CLOCK_MONOTONIC time
 * (bpf_ktime_get_ns) at which it stops dropping. prefixlen repeats the key's, so an expired
 * match can continue with a shorter prefix. set: the owning set, which picks the counter. */
struct drop_value {
	__u64 expires_ns;
	__u8 set;
	__u8 prefixlen;
	__u8 pad[6];
};

struct counter {
	__u64 packets;
	__u64 bytes;
};

/* Counter slots: one per set index, then the two below. */
#define MAX_SETS 256
#define SLOT_ALLOWED MAX_SETS       /* a drop set matched, the allowlist let it through */
#define SLOT_EXPIRED (MAX_SETS + 1) /* only expired entries matched: passed */
#define COUNTER_SLOTS (MAX_SETS + 2)

/* Default capacities; userspace overrides them when it creates the maps. LPM tries are never
 * preallocated (the kernel requires BPF_F_NO_PREALLOC), so a large max_entries costs nothing
 * until entries are added. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2000000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct key_v4);
	__type(value, struct drop_value);
} drop_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 2000000);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct key_v6);
	__type(value, struct drop_value);
} drop_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct key_v4);
	__type(value, __u32);
} allow_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, struct key_v6);
	__type(value, __u32);
} allow_v6 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, COUNTER_SLOTS);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
	__type(key, __u32);
	__type(value, struct counter);
} counters SEC(".maps");

static __always_inline void count(__u32 slot, __u64 bytes)
{
	struct counter *c = bpf_map_lookup_elem(&counters, &slot);
	if (c) {
		c->packets += 1;
		c->bytes += bytes;
	}
}

/* The verdict for a source address already copied into `key` (whose prefixlen is set to the
 * family's full length). `key` is a struct key_v4 or key_v6: both start with prefixlen. */
static __always_inline int verdict(void *drop, void *allow, void *key, __u32 max_len, __u64 bytes)
{
	__u32 *prefixlen = key;
	__u64 now = 0;
	int saw_expired = 0;

	/* Each round either returns or strictly shortens the prefix limit, so max_len + 1 rounds
	 * always suffice; the constant bound is for the verifier. */
	for (int round = 0; round < 129; round++) {
		struct drop_value *v = bpf_map_lookup_elem(drop, key);
		if (!v)
			break;
		if (v->expires_ns != 0) {
			if (!now)
				now = bpf_ktime_get_ns();
			if (v->expires_ns <= now) {
				saw_expired = 1;
				/* Guard against a corrupt value: the limit must shrink. */
				if (v->prefixlen == 0 || v->prefixlen > *prefixlen)
					break;
				*prefixlen = v->prefixlen - 1;
				continue;
			}
		}
		*prefixlen = max_len;
		if (bpf_map_lookup_elem(allow, key)) {
			count(SLOT_ALLOWED, bytes);
			return XDP_PASS;
		}
		count(v->set, bytes);
		return XDP_DROP;
	}
	if (saw_expired)
		count(SLOT_EXPIRED, bytes);
	return XDP_PASS;
}

SEC("xdp")
int palisade_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	__u64 bytes = end - data;
	__u32 off = ETH_HLEN;

	if (data + ETH_HLEN > end)
		return XDP_PASS;
	__u16 proto = *(__u16 *)(data + 12);

	/* Up to two VLAN tags (802.1Q, or 802.1ad outside 802.1Q). */
	for (int i = 0; i < 2; i++) {
		if (proto != be16(ETH_P_8021Q) && proto != be16(ETH_P_8021AD))
			break;
		if (data + off + 4 > end)
			return XDP_PASS;
		proto = *(__u16 *)(data + off + 2);
		off += 4;
	}

	if (proto == be16(ETH_P_IP)) {
		__u8 *ip = data + off;
		if ((void *)(ip + 20) > end || (ip[0] >> 4) != 4)
			return XDP_PASS;
		struct key_v4 key = {.prefixlen = 32};
		__builtin_memcpy(key.addr, ip + 12, 4);
		return verdict(&drop_v4, &allow_v4, &key, 32, bytes);
	}
	if (proto == be16(ETH_P_IPV6)) {
		__u8 *ip = data + off;
		if ((void *)(ip + 40) > end || (ip[0] >> 4) != 6)
			return XDP_PASS;
		struct key_v6 key = {.prefixlen = 128};
		__builtin_memcpy(key.addr, ip + 8, 16);
		return verdict(&drop_v6, &allow_v6, &key, 128, bytes);
	}
	return XDP_PASS;
}

/* The project's licence. No GPL-only helper is used, so the kernel accepts it as it is. */
char _license[] SEC("license") = "MIT OR Apache-2.0";
