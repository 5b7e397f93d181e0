//! Frames injected by the kernel itself, for benchmarks of the receive path.
//!
//! `BPF_PROG_TEST_RUN` in live-frame mode (Linux 5.18+) runs an XDP program on a frame
//! `repeat` times as if each copy had been received on a given interface: a dropped frame goes
//! back to its page pool, a passed one becomes an skb and enters the stack of that interface,
//! all on the calling thread. That is a NIC driver's receive path without a sender's cost, so
//! the CPU time of the calling thread is what each packet costs the receiver.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{FromRawFd, OwnedFd};
use std::time::Duration;

const BPF_PROG_TEST_RUN: libc::c_long = 10;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

/// CPU time this thread has used, system calls included.
pub fn thread_cpu_time() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into a live local.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Run the calling thread on `cpu` only.
pub fn pin_to_cpu(cpu: usize) -> io::Result<()> {
    // SAFETY: a zeroed cpu_set_t is empty; CPU_SET and sched_setaffinity act on this thread.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    Ok(())
}

/// Run the calling thread at the lowest real-time priority (SCHED_FIFO 1): ahead of every
/// ordinary task, as a receive path in softirq context is. The kernel's real-time throttling
/// (`kernel.sched_rt_runtime_us`) still leaves other tasks a share of the core.
pub fn realtime() -> io::Result<()> {
    let param = libc::sched_param { sched_priority: 1 };
    // SAFETY: sets this thread's scheduling policy from a live sched_param.
    if unsafe { libc::sched_setscheduler(0, libc::SCHED_FIFO, &param) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// A file descriptor for the loaded BPF program with id `id` (as `bpftool prog` lists them).
pub fn prog_fd_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = [0u8; 16];
    attr[..4].copy_from_slice(&id.to_ne_bytes());
    // SAFETY: bpf(2) reads the 16-byte attr (prog_id, next_id, open_flags).
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_GET_FD_BY_ID,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel returned a new descriptor that nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

/// Run program `prog_fd` `repeat` times on `frame`, as received on interface `ifindex`.
pub fn live_frames(prog_fd: i32, frame: &[u8], ifindex: u32, repeat: u32) -> io::Result<()> {
    // struct xdp_md: data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex
    let ctx: [u32; 6] = [0, frame.len() as u32, 0, ifindex, 0, 0];
    // union bpf_attr, the `test` member: prog_fd, retval, data_size_in, data_size_out,
    // data_in, data_out, repeat, duration, ctx_size_in, ctx_size_out, ctx_in, ctx_out, flags,
    // cpu, batch_size (offsets 0..76).
    let mut attr = [0u8; 128];
    let put32 =
        |a: &mut [u8; 128], at: usize, v: u32| a[at..at + 4].copy_from_slice(&v.to_ne_bytes());
    let put64 =
        |a: &mut [u8; 128], at: usize, v: u64| a[at..at + 8].copy_from_slice(&v.to_ne_bytes());
    put32(&mut attr, 0, prog_fd as u32);
    put32(&mut attr, 8, frame.len() as u32);
    put64(&mut attr, 16, frame.as_ptr() as u64);
    put32(&mut attr, 32, repeat);
    put32(&mut attr, 40, std::mem::size_of_val(&ctx) as u32);
    put64(&mut attr, 48, ctx.as_ptr() as u64);
    put32(&mut attr, 64, BPF_F_TEST_XDP_LIVE_FRAMES);
    // SAFETY: bpf(2) reads the 128-byte attr; the frame and ctx pointers in it point to live
    // buffers of the sizes given, which the kernel only reads in live-frame mode.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_TEST_RUN,
            attr.as_mut_ptr(),
            attr.len(),
        )
    };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `aa:bb:cc:dd:ee:ff` as bytes.
pub fn mac_bytes(mac: &str) -> Vec<u8> {
    mac.split(':')
        .map(|h| u8::from_str_radix(h, 16).unwrap_or(0))
        .collect()
}

/// The Internet checksum (RFC 1071) of `bytes`, started from `sum`.
fn internet_checksum(sum: u32, bytes: &[u8]) -> u16 {
    let mut sum = sum;
    for w in bytes.chunks(2) {
        sum += u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// Ethernet and IPv4 headers for a `payload_len`-byte payload of protocol `proto`.
fn eth_ipv4(
    dst_mac: &str,
    src_mac: &str,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    proto: u8,
    payload_len: u16,
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend(mac_bytes(dst_mac));
    f.extend(mac_bytes(src_mac));
    f.extend([0x08, 0x00]);
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, proto, 0, 0];
    ip[2..4].copy_from_slice(&(20 + payload_len).to_be_bytes());
    ip.extend(src.octets());
    ip.extend(dst.octets());
    let csum = internet_checksum(0, &ip);
    ip[10..12].copy_from_slice(&csum.to_be_bytes());
    f.extend(ip);
    f
}

/// One 60-byte Ethernet/IPv4/TCP SYN from `src`:`sport` to `dst`:`dport`, with a valid TCP
/// checksum (conntrack verifies it and would leave a bad one untracked, which is cheaper
/// than what a real flood costs).
pub fn syn_frame(
    dst_mac: &str,
    src_mac: &str,
    (src, sport): (Ipv4Addr, u16),
    (dst, dport): (Ipv4Addr, u16),
) -> Vec<u8> {
    let mut tcp = Vec::with_capacity(20);
    tcp.extend(sport.to_be_bytes());
    tcp.extend(dport.to_be_bytes());
    tcp.extend(0x1234_5678u32.to_be_bytes()); // sequence number
    tcp.extend(0u32.to_be_bytes()); // acknowledgement number
    tcp.extend([0x50, 0x02]); // header length 20, SYN
    tcp.extend(64240u16.to_be_bytes()); // window
    tcp.extend([0, 0, 0, 0]); // checksum, urgent pointer
    let mut pseudo = Vec::with_capacity(12);
    pseudo.extend(src.octets());
    pseudo.extend(dst.octets());
    pseudo.extend([0, 6]);
    pseudo.extend((tcp.len() as u16).to_be_bytes());
    let sum = u32::from(!internet_checksum(0, &pseudo));
    let csum = internet_checksum(sum, &tcp);
    tcp[16..18].copy_from_slice(&csum.to_be_bytes());
    let mut f = eth_ipv4(dst_mac, src_mac, src, dst, 6, tcp.len() as u16);
    f.extend(tcp);
    f.resize(60, 0); // Ethernet's minimum frame, padded as a NIC would
    f
}

/// One 60-byte Ethernet/IPv4/UDP frame from `src` to `dst` (port 4000 to 9).
pub fn udp_frame(dst_mac: &str, src_mac: &str, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let udp_len: u16 = 8 + 18;
    let mut f = eth_ipv4(dst_mac, src_mac, src, dst, 17, udp_len);
    f.extend(4000u16.to_be_bytes());
    f.extend(9u16.to_be_bytes());
    f.extend(udp_len.to_be_bytes());
    f.extend([0, 0]); // no UDP checksum (allowed over IPv4)
    f.extend([0u8; 18]);
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_frame_is_60_bytes_with_a_valid_ip_checksum() {
        let f = udp_frame(
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            Ipv4Addr::new(192, 0, 2, 10),
            Ipv4Addr::new(192, 0, 2, 1),
        );
        assert_eq!(f.len(), 60);
        assert_eq!(&f[..6], &[2, 0, 0, 0, 0, 1]);
        let ip = &f[14..34];
        let sum: u32 = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        let folded = (sum & 0xffff) + (sum >> 16);
        assert_eq!((folded & 0xffff) + (folded >> 16), 0xffff);
    }

    #[test]
    fn the_syn_checksums_verify() {
        let (src, dst) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 1));
        let f = syn_frame(
            "02:00:00:00:00:01",
            "02:00:00:00:00:02",
            (src, 4242),
            (dst, 80),
        );
        assert_eq!(f.len(), 60);
        assert_eq!(f[23], 6, "protocol TCP");
        assert_eq!(internet_checksum(0, &f[14..34]), 0, "IPv4 header checksum");
        let tcp = &f[34..54];
        assert_eq!(tcp[13], 0x02, "SYN only");
        let mut pseudo = Vec::new();
        pseudo.extend(src.octets());
        pseudo.extend(dst.octets());
        pseudo.extend([0, 6, 0, 20]);
        let sum = u32::from(!internet_checksum(0, &pseudo));
        assert_eq!(internet_checksum(sum, tcp), 0, "TCP checksum");
    }
}
