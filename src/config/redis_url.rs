//! Redis URLs: composing one from the legacy `REDIS_HOST`-style parts, checking the scheme, and
//! hiding the password wherever a URL is shown.

use std::borrow::Cow;

// rediss:// (TLS) is not accepted: the redis crate is built without a TLS backend.
const SCHEMES: [&str; 3] = ["redis://", "rediss://", "unix://"];

pub(super) fn has_known_scheme(url: &str) -> bool {
    SCHEMES.iter().any(|scheme| url.starts_with(scheme))
}

/// `redis://[:password@]host:port/db`, with the password percent-encoded so that characters such
/// as `@`, `/` or `:` in it cannot change how the URL splits.
pub(super) fn compose(host: &str, port: u16, db: u8, password: Option<&str>) -> String {
    let userinfo = password
        .map(|password| format!(":{}@", percent_encode(password)))
        .unwrap_or_default();
    // An IPv6 literal needs brackets, or its colons would be read as the port separator.
    let host = if host.contains(':') && !host.starts_with('[') {
        Cow::Owned(format!("[{host}]"))
    } else {
        Cow::Borrowed(host)
    };
    format!("redis://{userinfo}{host}:{port}/{db}")
}

/// RFC 3986 userinfo encoding: everything but the unreserved set is escaped, byte by byte.
fn percent_encode(text: &str) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut encoded = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            encoded.push(char::from(byte));
        } else {
            encoded.push('%');
            encoded.push(char::from(HEX[usize::from(byte >> 4)]));
            encoded.push(char::from(HEX[usize::from(byte & 0x0F)]));
        }
    }
    encoded
}

/// The URL with the password of its userinfo replaced by `***`.
///
/// The userinfo ends at the last `@` before any query, not at the first `/`, so that a password
/// someone forgot to encode is still hidden rather than half printed.
pub(super) fn redact(url: &str) -> Cow<'_, str> {
    let Some(authority_start) = url.find("://").map(|i| i + 3) else {
        return Cow::Borrowed(url);
    };
    let rest = &url[authority_start..];
    let before_query = rest.split('?').next().unwrap_or(rest);
    let Some(at) = before_query.rfind('@') else {
        return Cow::Borrowed(url);
    };
    let Some(colon) = rest[..at].find(':') else {
        return Cow::Borrowed(url);
    };
    Cow::Owned(format!(
        "{}***{}",
        &url[..authority_start + colon + 1],
        &rest[at..]
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compose_without_password() {
        assert_eq!(compose("cache", 6380, 2, None), "redis://cache:6380/2");
    }

    #[test]
    fn compose_encodes_the_password() {
        assert_eq!(
            compose("cache", 6379, 0, Some("p@ss:w/rd %é")),
            "redis://:p%40ss%3Aw%2Frd%20%25%C3%A9@cache:6379/0"
        );
    }

    #[test]
    fn compose_brackets_ipv6_hosts() {
        assert_eq!(compose("::1", 6379, 0, None), "redis://[::1]:6379/0");
        assert_eq!(compose("[::1]", 6379, 0, None), "redis://[::1]:6379/0");
    }

    #[test]
    fn known_schemes() {
        assert!(has_known_scheme("redis://h:1/0"));
        assert!(has_known_scheme("rediss://h:1/0"), "TLS");
        assert!(has_known_scheme("unix:///run/redis.sock"));
        assert!(!has_known_scheme("http://h:1/0"));
        assert!(!has_known_scheme("127.0.0.1:6379"));
    }

    #[test]
    fn redact_hides_only_the_password() {
        assert_eq!(redact("redis://:pw@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://user:pw@h:1/0"), "redis://user:***@h:1/0");
        assert_eq!(redact("redis://:a/b@c@h:1/0"), "redis://:***@h:1/0");
        assert_eq!(redact("redis://user@h:1/0"), "redis://user@h:1/0");
        assert_eq!(redact("redis://h:1/0"), "redis://h:1/0");
        assert_eq!(redact("not a url"), "not a url");
    }
}
