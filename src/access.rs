//! Who may reach the server: which browser origins (the WebSocket upgrade and CORS follow the
//! same list), which address a client really has behind trusted proxies, and how many sessions
//! one address may hold. Plain logic, unit-tested here; `http` applies it and `config` checks
//! the settings parse.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

/// `server.allowed_origins`, compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum OriginPolicy {
    /// `["*"]`.
    Any,
    /// The default (an empty list): origins whose host name is the request's own host name, on
    /// any port and scheme, so a page served by this server (or its proxy) may connect.
    SameHost,
    /// Exactly these origins (`scheme://host[:port]`, compared case-insensitively).
    Listed(Vec<String>),
}

impl OriginPolicy {
    pub fn new(allowed: &[String]) -> Self {
        match allowed {
            [] => OriginPolicy::SameHost,
            [any] if any == "*" => OriginPolicy::Any,
            list => OriginPolicy::Listed(
                list.iter()
                    .map(|o| o.trim_end_matches('/').to_ascii_lowercase())
                    .collect(),
            ),
        }
    }

    /// Whether a request with this `Origin` header (None: not a browser) may proceed; `host` is
    /// the request's `Host` header.
    pub fn allows(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        match self {
            OriginPolicy::Any => true,
            OriginPolicy::Listed(list) => list.iter().any(|o| o.eq_ignore_ascii_case(origin)),
            OriginPolicy::SameHost => match (origin_host(origin), host.map(host_name)) {
                (Some(a), Some(b)) => a.eq_ignore_ascii_case(b),
                _ => false,
            },
        }
    }
}

/// The host name of `scheme://host[:port]`; `None` for `null` and anything unparsable.
fn origin_host(origin: &str) -> Option<&str> {
    let (_, rest) = origin.split_once("://")?;
    let name = host_name(rest.trim_end_matches('/'));
    (!name.is_empty()).then_some(name)
}

/// `host[:port]` or `[v6]:port` without the port.
fn host_name(authority: &str) -> &str {
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or_default();
    }
    authority.split(':').next().unwrap_or_default()
}

/// `server.trusted_proxies`: addresses (or CIDR ranges) whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TrustedProxies(Vec<(IpAddr, u8)>);

/// A proxy entry that is neither an address nor a CIDR range.
#[derive(Debug, Clone, PartialEq)]
pub struct InvalidProxy(pub String);

impl TrustedProxies {
    pub fn parse(entries: &[String]) -> Result<Self, InvalidProxy> {
        entries
            .iter()
            .map(|e| {
                let invalid = || InvalidProxy(e.clone());
                let (addr, prefix) = e.split_once('/').unwrap_or((e, ""));
                let addr: IpAddr = addr.trim().parse().map_err(|_| invalid())?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix = match prefix {
                    "" => max,
                    p => p.parse().ok().filter(|p| *p <= max).ok_or_else(invalid)?,
                };
                Ok((addr, prefix))
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0
            .iter()
            .any(|(net, prefix)| in_range(ip, *net, *prefix))
    }

    /// The client's address: the peer's, unless the peer is a trusted proxy; then the nearest
    /// `X-Forwarded-For` entry that is not itself a trusted proxy (entries further left could be
    /// made up by the client).
    pub fn client_address(&self, peer: IpAddr, forwarded_for: Option<&str>) -> IpAddr {
        if !self.trusts(peer) {
            return peer;
        }
        let hops = forwarded_for.unwrap_or_default().rsplit(',');
        for hop in hops.map(str::trim).filter(|h| !h.is_empty()) {
            match hop.parse::<IpAddr>() {
                Ok(ip) if self.trusts(ip) => continue,
                Ok(ip) => return ip,
                Err(_) => break,
            }
        }
        peer
    }
}

fn in_range(ip: IpAddr, net: IpAddr, prefix: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

/// Live sessions per client address, so one address cannot take every slot.
#[derive(Debug, Default)]
pub struct AddressCounts(Mutex<HashMap<IpAddr, usize>>);

/// One session's hold on its address's count; released when dropped (with the session).
#[derive(Debug)]
pub struct AddressSlot {
    counts: Arc<AddressCounts>,
    ip: IpAddr,
}

impl AddressCounts {
    /// A slot for `ip`, unless it already holds `max`.
    pub fn acquire(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut counts = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(ip).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot {
            counts: self.clone(),
            ip,
        })
    }
}

impl AddressSlot {
    pub fn ip(&self) -> IpAddr {
        self.ip
    }
}

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut counts = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn the_default_allows_the_servers_own_host_name_on_any_port() {
        let p = OriginPolicy::new(&[]);
        assert!(p.allows(None, Some("example.com")), "not a browser");
        assert!(p.allows(Some("https://example.com"), Some("example.com:8080")));
        assert!(p.allows(Some("http://EXAMPLE.com:3000"), Some("example.com")));
        assert!(p.allows(Some("http://[::1]:3000"), Some("[::1]:8080")));
        assert!(!p.allows(Some("http://evil.example"), Some("example.com")));
        assert!(!p.allows(Some("null"), Some("example.com")));
        assert!(!p.allows(Some("http://example.com.evil.example"), Some("example.com")));
        assert!(!p.allows(Some("http://example.com"), None));
    }

    #[test]
    fn a_list_allows_exactly_its_origins_and_a_star_any() {
        let p = OriginPolicy::new(&["https://app.example.com/".into()]);
        assert!(p.allows(Some("https://APP.example.com"), Some("api.example.com")));
        assert!(!p.allows(Some("http://app.example.com"), Some("api.example.com")));
        let any = OriginPolicy::new(&["*".into()]);
        assert!(any.allows(Some("null"), None));
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxies = TrustedProxies::parse(&["10.0.0.0/8".into(), "::1".into()]).unwrap();
        let xff = Some("6.6.6.6, 203.0.113.7, 10.1.2.3");
        assert_eq!(
            proxies.client_address(ip("192.0.2.1"), xff),
            ip("192.0.2.1")
        );
        assert_eq!(
            proxies.client_address(ip("10.9.9.9"), xff),
            ip("203.0.113.7"),
            "the nearest untrusted hop, not the client's own claim"
        );
        assert_eq!(proxies.client_address(ip("::1"), None), ip("::1"));
        assert_eq!(
            proxies.client_address(ip("10.9.9.9"), Some("junk")),
            ip("10.9.9.9")
        );
        assert!(TrustedProxies::parse(&["10.0.0.0/33".into()]).is_err());
        assert!(TrustedProxies::parse(&["proxy.local".into()]).is_err());
    }

    #[test]
    fn an_address_holds_at_most_its_share_until_a_session_ends() {
        let counts = Arc::new(AddressCounts::default());
        let a = ip("192.0.2.1");
        let first = counts.acquire(a, 2).unwrap();
        let _second = counts.acquire(a, 2).unwrap();
        assert!(counts.acquire(a, 2).is_none());
        assert!(
            counts.acquire(ip("192.0.2.2"), 2).is_some(),
            "others unaffected"
        );
        drop(first);
        assert!(counts.acquire(a, 2).is_some());
    }
}
