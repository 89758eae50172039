//! Request rate limits per client IP, the way GoTrue limits its endpoints: a token bucket per
//! address and endpoint group that holds `limit` requests and refills at `limit` per window
//! (sign-ups and password sign-ins: 30 per 5 minutes; refresh-token grants: 150 per 5
//! minutes). Every request takes a token, whether its password is right or wrong, and nothing
//! ever locks an account: a correct password is refused only while its *address* is over its
//! limit, and one address running out never affects another.
//!
//! The client address is the socket peer, unless that peer is a configured trusted proxy: then
//! it is the right-most address of the forwarding header (`X-Forwarded-For` by default) that is
//! not itself a trusted proxy, so a client can neither spoof the header (an untrusted peer's
//! header is ignored) nor make everyone behind a proxy share one bucket. IPv6 clients are
//! counted per /64 (one host or household). The bucket map is bounded: full buckets (equal to
//! no entry) are swept, then the least recently used ones evicted. In memory, per process.

use std::collections::HashMap;
use std::fmt;
use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use http::HeaderMap;

/// A bad entry in the trusted proxy list.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CidrError {
    #[error("{0:?} is not an IP address or CIDR block (e.g. 10.0.0.0/8, 2001:db8::/32, 127.0.0.1)")]
    Invalid(String),
}

/// An address block (`10.0.0.0/8`, `::1/128`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpCidr(ipnet::IpNet);

impl IpCidr {
    /// Whether `ip` is inside the block (IPv4-mapped IPv6 addresses count as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        self.0.contains(&ip.to_canonical())
    }
}

impl FromStr for IpCidr {
    type Err = CidrError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let net = match text.parse::<IpAddr>() {
            Ok(addr) => Ok(ipnet::IpNet::from(addr.to_canonical())),
            Err(_) => text.parse::<ipnet::IpNet>(),
        };
        net.map(IpCidr)
            .map_err(|_| CidrError::Invalid(text.to_string()))
    }
}

impl fmt::Display for IpCidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// The client's address: the socket `peer`, or — when the peer is one of `trusted` — the
/// right-most address in `header` (comma-separated, possibly repeated) that is not trusted.
/// When every forwarded address is trusted, the left-most one; when the header is missing or
/// an entry a trusted hop wrote does not parse, the peer.
pub fn client_ip(
    peer: Option<IpAddr>,
    headers: &HeaderMap,
    header: &str,
    trusted: &[IpCidr],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|c| c.contains(ip));
    if !is_trusted(peer) {
        return Some(peer);
    }
    let mut entries: Vec<&str> = Vec::new();
    for value in headers.get_all(header) {
        let Ok(value) = value.to_str() else {
            return Some(peer);
        };
        entries.extend(value.split(','));
    }
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(ip) = parse_forwarded(entry) else {
            return Some(client);
        };
        client = ip;
        if !is_trusted(ip) {
            break;
        }
    }
    Some(client)
}

/// One forwarded address: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:443`.
fn parse_forwarded(entry: &str) -> Option<IpAddr> {
    let entry = entry.trim().trim_matches('"');
    if let Ok(ip) = entry.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(sock) = entry.parse::<std::net::SocketAddr>() {
        return Some(sock.ip().to_canonical());
    }
    None
}

/// The bucket key of an address: IPv4 as is, IPv6 by its /64.
fn bucket_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(u128::from(v6) & !u128::from(u64::MAX))),
        v4 @ IpAddr::V4(_) => v4,
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

/// Token buckets per client address (see the module docs).
#[derive(Debug)]
pub struct RateLimiter {
    /// Bucket size; 0 disables the limiter.
    capacity: f64,
    /// Tokens added per second.
    per_sec: f64,
    max_keys: usize,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `limit` requests per `window` per address (bursts up to `limit`), tracking at most
    /// `max_keys` addresses; `limit == 0` disables it.
    pub fn new(limit: u32, window: Duration, max_keys: usize) -> Self {
        let window = window.as_secs_f64().max(0.001);
        RateLimiter {
            capacity: f64::from(limit),
            per_sec: f64::from(limit) / window,
            max_keys: max_keys.max(1),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<IpAddr, Bucket>> {
        // The map holds no invariant a panicking holder could break.
        self.buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Takes one request from `ip`'s bucket; when it is empty, how long until it holds one.
    pub fn check(&self, ip: IpAddr) -> Result<(), Duration> {
        self.check_at(ip, Instant::now())
    }

    /// [`RateLimiter::check`] at time `now` (the clock seam of the unit tests).
    fn check_at(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.capacity <= 0.0 {
            return Ok(());
        }
        let key = bucket_key(ip);
        let mut buckets = self.lock();
        if buckets.len() >= self.max_keys && !buckets.contains_key(&key) {
            self.evict(&mut buckets, now);
        }
        let bucket = buckets.entry(key).or_insert(Bucket {
            tokens: self.capacity,
            updated: now,
        });
        let refill = now.duration_since(bucket.updated).as_secs_f64() * self.per_sec;
        bucket.tokens = (bucket.tokens + refill).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64(
                (1.0 - bucket.tokens) / self.per_sec,
            ))
        }
    }

    /// Makes room: drops buckets that have refilled (the same as no entry), then, if that was
    /// not enough, the least recently used half.
    fn evict(&self, buckets: &mut HashMap<IpAddr, Bucket>, now: Instant) {
        let (capacity, per_sec) = (self.capacity, self.per_sec);
        buckets.retain(|_, b| {
            b.tokens + now.duration_since(b.updated).as_secs_f64() * per_sec < capacity
        });
        if buckets.len() < self.max_keys {
            return;
        }
        let mut ages: Vec<Instant> = buckets.values().map(|b| b.updated).collect();
        let middle = ages.len() / 2;
        let (_, cutoff, _) = ages.select_nth_unstable(middle);
        let cutoff = *cutoff;
        buckets.retain(|_, b| b.updated > cutoff);
    }

    /// How many addresses have a bucket now.
    pub fn tracked(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn cidrs(list: &[&str]) -> Vec<IpCidr> {
        list.iter().map(|c| c.parse().unwrap()).collect()
    }

    fn xff(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", value.parse().unwrap());
        h
    }

    /// On an injected clock: 2 requests per 100 ms refill one token every 50 ms.
    #[test]
    fn buckets_empty_per_address_and_refill() {
        let l = RateLimiter::new(2, Duration::from_millis(100), 100);
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let a = ip("10.0.0.1");
        assert_eq!(l.check_at(a, at(0)), Ok(()));
        assert_eq!(l.check_at(a, at(0)), Ok(()));
        let wait = l.check_at(a, at(0)).unwrap_err();
        assert!(
            wait.abs_diff(Duration::from_millis(50)) < Duration::from_micros(10),
            "{wait:?}"
        );
        // Another address has its own bucket.
        assert_eq!(l.check_at(ip("10.0.0.2"), at(0)), Ok(()));
        // Half a token after 25 ms: still refused, and the wait shrinks accordingly.
        let wait = l.check_at(a, at(25)).unwrap_err();
        assert!(
            wait.abs_diff(Duration::from_millis(25)) < Duration::from_micros(10),
            "{wait:?}"
        );
        // A whole token after 51 ms, used at once.
        assert_eq!(l.check_at(a, at(51)), Ok(()));
        assert!(l.check_at(a, at(52)).is_err());
        // After a long pause the bucket is full again, but holds no more than its size.
        assert_eq!(l.check_at(a, at(10_000)), Ok(()));
        assert_eq!(l.check_at(a, at(10_000)), Ok(()));
        assert!(l.check_at(a, at(10_000)).is_err());
    }

    #[test]
    fn zero_disables() {
        let l = RateLimiter::new(0, Duration::from_secs(60), 10);
        for _ in 0..100 {
            assert!(l.check(ip("10.0.0.1")).is_ok());
        }
        assert_eq!(l.tracked(), 0);
    }

    #[test]
    fn ipv6_counts_per_64() {
        let l = RateLimiter::new(1, Duration::from_secs(60), 100);
        assert!(l.check(ip("2001:db8:1:2::1")).is_ok());
        assert!(l.check(ip("2001:db8:1:2::ffff")).is_err());
        assert!(l.check(ip("2001:db8:1:3::1")).is_ok());
        // IPv4-mapped IPv6 is the IPv4 address.
        assert!(l.check(ip("192.0.2.1")).is_ok());
        assert!(l.check(ip("::ffff:192.0.2.1")).is_err());
    }

    #[test]
    fn memory_is_bounded() {
        let l = RateLimiter::new(5, Duration::from_secs(3600), 100);
        for i in 0..10_000u32 {
            let _ = l.check(IpAddr::from(i.to_be_bytes()));
        }
        assert!(l.tracked() <= 100, "{}", l.tracked());
        // The most recent address is still counted.
        let last = IpAddr::from(9_999u32.to_be_bytes());
        for _ in 0..4 {
            assert!(l.check(last).is_ok());
        }
        assert!(l.check(last).is_err());
    }

    #[test]
    fn cidrs_parse_and_match() {
        let c: IpCidr = "10.0.0.0/8".parse().unwrap();
        assert!(c.contains(ip("10.200.1.1")));
        assert!(!c.contains(ip("11.0.0.1")));
        assert!(c.contains(ip("::ffff:10.0.0.1")));
        let one: IpCidr = "127.0.0.1".parse().unwrap();
        assert!(one.contains(ip("127.0.0.1")) && !one.contains(ip("127.0.0.2")));
        let v6: IpCidr = "fd00::/8".parse().unwrap();
        assert!(v6.contains(ip("fd12::1")) && !v6.contains(ip("fe80::1")));
        let all: IpCidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("8.8.8.8")));
        for bad in ["", "10.0.0.0/33", "10.0.0/8", "x", "::/129", "10.0.0.0/-1"] {
            assert!(bad.parse::<IpCidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_peers() {
        let trusted = cidrs(&["10.0.0.0/8"]);
        let h = xff("203.0.113.9, 198.51.100.7");
        // An untrusted peer's header is ignored.
        assert_eq!(
            client_ip(Some(ip("198.51.100.1")), &h, "x-forwarded-for", &trusted),
            Some(ip("198.51.100.1"))
        );
        // A trusted peer: the right-most untrusted entry (the left one may be spoofed).
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &h, "x-forwarded-for", &trusted),
            Some(ip("198.51.100.7"))
        );
        // Chains of trusted proxies are skipped.
        let h = xff("203.0.113.9, 198.51.100.7, 10.1.1.1");
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &h, "x-forwarded-for", &trusted),
            Some(ip("198.51.100.7"))
        );
        // No header: the peer.
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.5")),
                &HeaderMap::new(),
                "x-forwarded-for",
                &trusted
            ),
            Some(ip("10.0.0.5"))
        );
        // Garbage written by a client left of an untrusted hop never matters; garbage in a
        // trusted hop's slot falls back to the last good address.
        let h = xff("nonsense, 198.51.100.7");
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &h, "x-forwarded-for", &trusted),
            Some(ip("198.51.100.7"))
        );
        let h = xff("198.51.100.7, nonsense");
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &h, "x-forwarded-for", &trusted),
            Some(ip("10.0.0.5"))
        );
        // Ports and brackets.
        let h = xff("[2001:db8::1]:443");
        assert_eq!(
            client_ip(Some(ip("10.0.0.5")), &h, "x-forwarded-for", &trusted),
            Some(ip("2001:db8::1"))
        );
        // No peer known: nothing.
        assert_eq!(client_ip(None, &h, "x-forwarded-for", &trusted), None);
    }
}
