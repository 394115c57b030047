//! Finds the send timestamps in a received frame: every occurrence of a key followed, after
//! quotes, colons, `=`, spaces or `\uXXXX` escapes, by a decimal number. Adapted from the
//! shared load generator's scanner (docs/GLOSSARY.md#peers-shared-bench), so frames of every
//! shape count the same way: `"volume":123.0` (tickrouter's price update),
//! `"description":"sent_ns:123"`, `\"sent_ns\":123` (webdis),
//! `42["price_update",{"sent_ns":123}]` (Socket.IO), batches.

use memchr::memmem::Finder;

pub struct Scanner {
    finder: Finder<'static>,
    key_len: usize,
}

/// Bytes skipped at most between the key and its number.
const MAX_GAP: usize = 40;

impl Scanner {
    pub fn new(key: &[u8]) -> Self {
        Scanner {
            finder: Finder::new(key).into_owned(),
            key_len: key.len(),
        }
    }

    /// Calls `f(value)` for every key-number pair in `buf`; returns how many there were.
    #[inline]
    pub fn scan(&self, buf: &[u8], mut f: impl FnMut(u64)) -> u64 {
        let mut count = 0;
        let mut pos = 0;
        while pos < buf.len() {
            let Some(i) = self.finder.find(&buf[pos..]) else {
                break;
            };
            let key_end = pos + i + self.key_len;
            let limit = (key_end + MAX_GAP).min(buf.len());
            let mut j = key_end;
            while j < limit {
                match buf[j] {
                    b'"' | b'\'' | b':' | b'=' | b' ' | b'\t' | b'\r' | b'\n' => j += 1,
                    b'\\' => {
                        let escape = j + 5 < buf.len()
                            && buf[j + 1] == b'u'
                            && buf[j + 2..j + 6].iter().all(u8::is_ascii_hexdigit);
                        j += if escape { 6 } else { 1 };
                    }
                    _ => break,
                }
            }
            let start = j;
            let mut v: u64 = 0;
            if start < limit {
                while j < buf.len() && j - start < 19 && buf[j].is_ascii_digit() {
                    v = v * 10 + u64::from(buf[j] - b'0');
                    j += 1;
                }
            }
            if j > start {
                f(v);
                count += 1;
            }
            pos = j.max(key_end);
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(key: &str, s: &str) -> Vec<u64> {
        let sc = Scanner::new(key.as_bytes());
        let mut v = Vec::new();
        let n = sc.scan(s.as_bytes(), |x| v.push(x));
        assert_eq!(n as usize, v.len());
        v
    }

    #[test]
    fn tickrouter_frames() {
        let price = r#"{"event":"dashboard_price_update","data":{"type":"price_update","symbol":"BENCH","price":1.0,"change":0.0,"change_percent":1.0,"volume":1234567890123.0,"timestamp":1}}"#;
        assert_eq!(all("\"volume\"", price), vec![1_234_567_890_123]);
        let alert = r#"{"event":"dashboard_market_event","data":{"type":"dashboard_alert","alert":{"title":"u7","description":"sent_ns:42","timestamp":1,"show_notification":false},"timestamp":1}}"#;
        assert_eq!(all("sent_ns", alert), vec![42]);
        // The ack and the welcome frame carry no timestamp.
        assert!(all(
            "\"volume\"",
            r#"{"event":"ack","data":{"op":"subscribe"},"id":1}"#
        )
        .is_empty());
    }

    #[test]
    fn peers_frames() {
        assert_eq!(
            all(
                "sent_ns",
                r#"{"SUBSCRIBE":["message","prices","{\"sent_ns\":77}"]}"#
            ),
            vec![77]
        );
        assert_eq!(
            all(
                "sent_ns",
                r#"42["price_update",{"symbol":"SYM01","sent_ns": 987}]"#
            ),
            vec![987]
        );
        assert_eq!(
            all(
                "sent_ns",
                r#"[{"sent_ns":1},{"sent_ns":22},{"sent_ns":"333"}]"#
            ),
            vec![1, 22, 333]
        );
        assert!(all("sent_ns", r#"{"sent_ns":null,"sent_ns_x":5}"#).is_empty());
    }
}
