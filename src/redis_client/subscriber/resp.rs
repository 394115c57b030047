//! RESP as a subscribed connection receives it, parsed in place: each reply borrows the read
//! buffer, so a message costs no allocation and no copy before the normaliser reads its payload.
//!
//! A connection in subscribed mode (RESP2) receives only a handful of shapes: `+OK` and errors
//! for the commands sent before subscribing, and flat arrays of at most four strings or integers
//! (`message`, `pmessage`, `smessage`, the confirmations, `pong`). Anything else (a nested
//! array, a RESP3 type) is a protocol error: the connection is dropped and made again.

use std::fmt;

/// What one reply is, as far as a subscriber cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Incoming<'a> {
    /// `message` (SUBSCRIBE) or `smessage` (SSUBSCRIBE).
    Message {
        channel: &'a [u8],
        payload: &'a [u8],
    },
    /// `pmessage`: the pattern that matched, then the concrete channel.
    PatternMessage {
        pattern: &'a [u8],
        channel: &'a [u8],
        payload: &'a [u8],
    },
    /// `-ERR ...`, `-NOAUTH ...`: a command was refused.
    Error(&'a [u8]),
    /// The answer to a PING (`+PONG`, or `pong` while subscribed).
    Pong,
    /// Confirmations, `+OK`, and whatever else carries no message.
    Control,
}

/// The bytes are not RESP as a subscriber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub &'static str);

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redis protocol error: {}", self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Redis's own ceiling for one string (`proto-max-bulk-len`'s maximum): a longer length means
/// the stream is corrupt, not that a buffer should grow that far.
const MAX_BULK: usize = 512 * 1024 * 1024;
/// The longest array a subscriber receives (`pmessage`).
const MAX_ITEMS: usize = 4;

/// Something parsed and where the bytes after it start, or `None` when the input ends first.
type Parsed<T> = Result<Option<(T, usize)>, ProtocolError>;

/// Parses one reply from the start of `buf`: the reply and its length in bytes, or `None` when
/// `buf` does not hold all of it yet.
pub fn parse(buf: &[u8]) -> Parsed<Incoming<'_>> {
    let Some(((head, line), mut at)) = header(buf, 0)? else {
        return Ok(None);
    };
    let count = match head {
        b'+' if line == b"PONG" => return Ok(Some((Incoming::Pong, at))),
        b'+' | b':' => return Ok(Some((Incoming::Control, at))),
        b'-' => return Ok(Some((Incoming::Error(line), at))),
        b'*' => match length(line)? {
            None => return Ok(Some((Incoming::Control, at))),
            Some(n) if n > MAX_ITEMS => return Err(ProtocolError("unexpected long array")),
            Some(n) => n,
        },
        _ => return Err(ProtocolError("unexpected reply type")),
    };
    let mut items: [&[u8]; MAX_ITEMS] = [&[]; MAX_ITEMS];
    for item in items.iter_mut().take(count) {
        let Some((value, next)) = scalar(buf, at)? else {
            return Ok(None);
        };
        *item = value;
        at = next;
    }
    let incoming = match items[..count] {
        [b"message" | b"smessage", channel, payload] => Incoming::Message { channel, payload },
        [b"pmessage", pattern, channel, payload] => Incoming::PatternMessage {
            pattern,
            channel,
            payload,
        },
        [b"pong", _] => Incoming::Pong,
        _ => Incoming::Control,
    };
    Ok(Some((incoming, at)))
}

/// How many whole replies (at most `max`) `buf` starts with, and their length in bytes.
pub fn complete(buf: &[u8], max: usize) -> Result<(usize, usize), ProtocolError> {
    let (mut count, mut len) = (0, 0);
    while count < max {
        match parse(&buf[len..])? {
            Some((_, n)) => {
                count += 1;
                len += n;
            }
            None => break,
        }
    }
    Ok((count, len))
}

/// The `count` replies in `buf`, which holds only whole ones (as [`complete`] measured them).
pub fn replies(buf: &[u8], count: usize) -> Replies<'_> {
    Replies { buf, left: count }
}

pub struct Replies<'a> {
    buf: &'a [u8],
    left: usize,
}

impl<'a> Iterator for Replies<'a> {
    type Item = Incoming<'a>;

    fn next(&mut self) -> Option<Incoming<'a>> {
        let (incoming, n) = parse(self.buf).ok().flatten()?;
        self.buf = &self.buf[n..];
        self.left = self.left.saturating_sub(1);
        Some(incoming)
    }

    // Exact, so what collects the events of a chunk allocates once.
    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left, Some(self.left))
    }
}

/// An array item: a bulk string, or a simple string or integer as its text.
fn scalar(buf: &[u8], at: usize) -> Parsed<&[u8]> {
    let Some(((head, line), at)) = header(buf, at)? else {
        return Ok(None);
    };
    match head {
        b'+' | b':' => Ok(Some((line, at))),
        b'$' => {
            let Some(len) = length(line)? else {
                return Ok(Some((&[], at)));
            };
            if len > MAX_BULK {
                return Err(ProtocolError("string longer than Redis allows"));
            }
            let end = at + len;
            match buf.get(end..end + 2) {
                None => Ok(None),
                Some(b"\r\n") => Ok(Some((&buf[at..end], end + 2))),
                Some(_) => Err(ProtocolError("string not followed by CRLF")),
            }
        }
        _ => Err(ProtocolError("unexpected item in an array")),
    }
}

/// The type byte and the rest of the line starting at `at`, and where the next line starts.
fn header(buf: &[u8], at: usize) -> Parsed<(u8, &[u8])> {
    let Some(rest) = buf.get(at..).filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let Some(lf) = rest.iter().position(|&b| b == b'\n') else {
        return Ok(None);
    };
    if lf < 2 || rest[lf - 1] != b'\r' {
        return Err(ProtocolError("line not ended by CRLF"));
    }
    Ok(Some(((rest[0], &rest[1..lf - 1]), at + lf + 1)))
}

/// A length line: `None` for -1 (RESP2's null).
fn length(line: &[u8]) -> Result<Option<usize>, ProtocolError> {
    if line == b"-1" {
        return Ok(None);
    }
    let text = std::str::from_utf8(line).map_err(|_| ProtocolError("length not a number"))?;
    text.parse()
        .map(Some)
        .map_err(|_| ProtocolError("length not a number"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(buf: &[u8]) -> Incoming<'_> {
        let (incoming, n) = parse(buf).unwrap().unwrap();
        assert_eq!(n, buf.len(), "the whole reply is consumed");
        incoming
    }

    #[test]
    fn messages_borrow_channel_and_payload() {
        assert_eq!(
            one(b"*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\n{\"a\"}\r\n"),
            Incoming::Message {
                channel: b"ch",
                payload: b"{\"a\"}"
            }
        );
        assert_eq!(
            one(b"*3\r\n$8\r\nsmessage\r\n$2\r\nch\r\n$0\r\n\r\n"),
            Incoming::Message {
                channel: b"ch",
                payload: b""
            }
        );
        assert_eq!(
            one(b"*4\r\n$8\r\npmessage\r\n$3\r\nt:*\r\n$3\r\nt:1\r\n$1\r\nx\r\n"),
            Incoming::PatternMessage {
                pattern: b"t:*",
                channel: b"t:1",
                payload: b"x"
            }
        );
    }

    #[test]
    fn a_payload_may_hold_crlf_and_binary() {
        assert_eq!(
            one(b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$4\r\n\r\n\0\xff\r\n"),
            Incoming::Message {
                channel: b"c",
                payload: b"\r\n\0\xff"
            }
        );
    }

    #[test]
    fn confirmations_status_and_errors() {
        assert_eq!(one(b"+OK\r\n"), Incoming::Control);
        assert_eq!(
            one(b"*3\r\n$9\r\nsubscribe\r\n$1\r\nc\r\n:1\r\n"),
            Incoming::Control
        );
        assert_eq!(one(b"*2\r\n$4\r\npong\r\n$0\r\n\r\n"), Incoming::Pong);
        assert_eq!(one(b"+PONG\r\n"), Incoming::Pong);
        assert_eq!(one(b"*-1\r\n"), Incoming::Control);
        assert_eq!(
            one(b"-NOAUTH Authentication required.\r\n"),
            Incoming::Error(b"NOAUTH Authentication required.")
        );
    }

    #[test]
    fn every_truncation_is_incomplete_not_an_error() {
        let whole = b"*4\r\n$8\r\npmessage\r\n$3\r\nt:*\r\n$3\r\nt:1\r\n$5\r\nhello\r\n";
        for cut in 0..whole.len() {
            assert_eq!(parse(&whole[..cut]), Ok(None), "cut at {cut}");
        }
    }

    #[test]
    fn malformed_input_is_a_protocol_error() {
        for bad in [
            &b"*3\r\n*1\r\n"[..],
            b"*9\r\n",
            b"%1\r\n",
            b">3\r\n",
            b"*1\r\n$x\r\n",
            b"*1\r\n$1\r\nab\r\n",
            b"+OK\n",
            b"*1\r\n$999999999999\r\n",
        ] {
            assert!(parse(bad).is_err(), "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn complete_counts_whole_replies_up_to_max_and_replies_walks_them() {
        let msg = b"*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\n1\r\n";
        let mut buf = Vec::new();
        for _ in 0..3 {
            buf.extend_from_slice(msg);
        }
        buf.extend_from_slice(&msg[..10]);
        assert_eq!(complete(&buf, 10), Ok((3, 3 * msg.len())));
        assert_eq!(complete(&buf, 2), Ok((2, 2 * msg.len())));
        let walked: Vec<_> = replies(&buf[..3 * msg.len()], 3).collect();
        assert_eq!(walked.len(), 3);
        assert!(matches!(walked[2], Incoming::Message { payload: b"1", .. }));
    }
}
