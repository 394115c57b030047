//! The client's bytes to whole messages and control frames (RFC 6455), for every kind of
//! session: framing and its checks (actix-http's `Parser`: masking, reserved bits, opcodes,
//! control frame lengths), fragmented messages reassembled, UTF-8 checked as it arrives, close
//! frames checked, and the size limits.
//!
//! actix-web-actors' own decoder is not used: it reports invalid UTF-8 in a text frame as an I/O
//! error and in a close reason as a bad opcode, which cannot be told from the violations that
//! close with 1002, and it hands fragments on one by one. Every frame read here is one
//! [`Inbound`] item, so that the session can count each frame against its rate limit.

use std::pin::Pin;
use std::task::{Context, Poll};

use actix_http::error::PayloadError;
use actix_http::ws::{CloseReason as WsCloseReason, OpCode, Parser};
use actix_web::web::{Bytes, BytesMut};
use bytestring::ByteString;
use futures_util::Stream;

use crate::domain::close::CloseReason;

/// How much the reader takes from one client.
#[derive(Debug, Clone, Copy)]
pub struct FrameLimits {
    /// A message larger than this (one frame or all its fragments) becomes
    /// [`Inbound::TooLarge`]: its bytes are dropped as they arrive.
    pub message_bytes: usize,
    /// A frame announcing a larger payload fails the connection before its payload is read.
    pub frame_bytes: usize,
}

/// One frame from the client, as the session sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Inbound {
    /// A whole text message, valid UTF-8: one frame, or the last of its fragments.
    Text(ByteString),
    /// A whole binary message.
    Binary(Bytes),
    /// The last frame of a message over [`FrameLimits::message_bytes`] (its UTF-8 was checked
    /// all the same).
    TooLarge {
        bytes: usize,
    },
    /// A fragment that does not end its message.
    Fragment,
    Ping(Bytes),
    Pong,
    /// The client closes, with this status code and reason.
    Close(Option<WsCloseReason>),
}

/// Why the connection must fail (RFC 6455 section 7.1.7); nothing after it is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// Invalid UTF-8 in a text message or a close reason (the place is named).
    InvalidUtf8(&'static str),
    /// Any other breach of the framing rules, or a frame over the transport limit.
    Protocol(String),
}

impl Violation {
    pub fn close_reason(&self) -> CloseReason {
        match self {
            Violation::InvalidUtf8(_) => CloseReason::InvalidPayload,
            Violation::Protocol(_) => CloseReason::ProtocolError,
        }
    }
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::InvalidUtf8(place) => write!(f, "invalid UTF-8 in a {place}"),
            Violation::Protocol(what) => f.write_str(what),
        }
    }
}

/// Frames from the bytes pushed so far.
pub struct FrameReader {
    limits: FrameLimits,
    buf: BytesMut,
    /// The data message whose fragments are still arriving.
    message: Option<Partial>,
}

impl FrameReader {
    pub fn new(limits: FrameLimits) -> Self {
        FrameReader {
            limits,
            buf: BytesMut::new(),
            message: None,
        }
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// The next frame, or `None` until more bytes are pushed. After an error the reader must not
    /// be used again.
    pub fn next_frame(&mut self) -> Result<Option<Inbound>, Violation> {
        // The parser buffers a whole frame before it refuses one as too large, which would let
        // a client make the server hold any amount; the header alone is enough to refuse it.
        if let Some(announced) = announced_len(&self.buf) {
            if announced > self.limits.frame_bytes as u64 {
                return Err(Violation::Protocol(format!(
                    "a frame of {announced} bytes is over the {} byte transport limit",
                    self.limits.frame_bytes
                )));
            }
        }
        let parsed = Parser::parse(&mut self.buf, true, self.limits.frame_bytes)
            .map_err(|e| Violation::Protocol(e.to_string()))?;
        let Some((fin, opcode, payload)) = parsed else {
            return Ok(None);
        };
        let payload = payload.unwrap_or_default();
        let frame = match opcode {
            OpCode::Ping | OpCode::Pong | OpCode::Close if !fin => {
                return Err(Violation::Protocol("a fragmented control frame".into()))
            }
            OpCode::Ping => Inbound::Ping(payload.freeze()),
            OpCode::Pong => Inbound::Pong,
            OpCode::Close => Inbound::Close(close_reason(&payload)?),
            OpCode::Text | OpCode::Binary => {
                if self.message.is_some() {
                    return Err(Violation::Protocol(
                        "a new message started before the fragmented one ended".into(),
                    ));
                }
                let partial = Partial::new(opcode == OpCode::Text);
                self.extend(partial, payload, fin)?
            }
            OpCode::Continue => {
                let partial = self.message.take().ok_or_else(|| {
                    Violation::Protocol("a continuation frame with no message to continue".into())
                })?;
                self.extend(partial, payload, fin)?
            }
            OpCode::Bad => return Err(Violation::Protocol("an invalid opcode".into())),
        };
        Ok(Some(frame))
    }

    fn extend(
        &mut self,
        mut partial: Partial,
        payload: BytesMut,
        fin: bool,
    ) -> Result<Inbound, Violation> {
        partial.push(payload, self.limits.message_bytes)?;
        if fin {
            partial.finish(self.limits.message_bytes)
        } else {
            self.message = Some(partial);
            Ok(Inbound::Fragment)
        }
    }
}

/// A data message being read.
struct Partial {
    text: bool,
    /// The message so far; once it is over the limit, only its last, incomplete UTF-8 sequence.
    data: BytesMut,
    /// Bytes received, kept or not.
    bytes: usize,
    /// How much of `data` is known to be valid UTF-8 (text only).
    checked: usize,
}

impl Partial {
    fn new(text: bool) -> Self {
        Partial {
            text,
            data: BytesMut::new(),
            bytes: 0,
            checked: 0,
        }
    }

    /// Adds one frame's payload. Text is checked as it comes (RFC 6455 section 8.1: fail as
    /// soon as the bytes cannot be UTF-8), so only an incomplete sequence may be left at the end.
    fn push(&mut self, payload: BytesMut, limit: usize) -> Result<(), Violation> {
        self.bytes += payload.len();
        if self.data.is_empty() {
            self.data = payload; // most messages are one frame: no copy
        } else {
            self.data.extend_from_slice(&payload);
        }
        if self.text {
            match std::str::from_utf8(&self.data[self.checked..]) {
                Ok(_) => self.checked = self.data.len(),
                Err(e) if e.error_len().is_none() => self.checked += e.valid_up_to(),
                Err(_) => return Err(Violation::InvalidUtf8("text message")),
            }
        }
        if self.bytes > limit {
            let keep = if self.text {
                self.checked
            } else {
                self.data.len()
            };
            let _ = self.data.split_to(keep);
            self.checked = 0;
        }
        Ok(())
    }

    fn finish(self, limit: usize) -> Result<Inbound, Violation> {
        let complete = !self.text || self.checked == self.data.len();
        if !complete {
            return Err(Violation::InvalidUtf8("text message"));
        }
        Ok(if self.bytes > limit {
            Inbound::TooLarge { bytes: self.bytes }
        } else if self.text {
            let text = ByteString::try_from(self.data.freeze())
                .map_err(|_| Violation::InvalidUtf8("text message"))?;
            Inbound::Text(text)
        } else {
            Inbound::Binary(self.data.freeze())
        })
    }
}

/// A close frame's status code and reason: the reason must be UTF-8 (1007), the code one that
/// RFC 6455 section 7.4 lets a peer send, and the payload empty or at least the code (1002).
fn close_reason(payload: &[u8]) -> Result<Option<WsCloseReason>, Violation> {
    if payload.len() > 2 && std::str::from_utf8(&payload[2..]).is_err() {
        return Err(Violation::InvalidUtf8("close reason"));
    }
    Parser::try_parse_close_payload(payload).map_err(|_| {
        Violation::Protocol("a close frame with a status code a peer may not send".into())
    })
}

/// The payload length a frame header announces, once the header has arrived.
fn announced_len(buf: &[u8]) -> Option<u64> {
    match buf.get(1)? & 0x7f {
        126 => Some(u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?).into()),
        127 => Some(u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?)),
        short => Some(short.into()),
    }
}

/// The connection's bytes as frames: a [`FrameReader`] over the request payload. Ends after a
/// violation, and when the connection does (a read error included: nothing more can arrive).
pub struct FrameStream {
    payload: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>,
    reader: FrameReader,
    done: bool,
}

impl FrameStream {
    pub fn new(
        payload: impl Stream<Item = Result<Bytes, PayloadError>> + 'static,
        limits: FrameLimits,
    ) -> Self {
        FrameStream {
            payload: Box::pin(payload),
            reader: FrameReader::new(limits),
            done: false,
        }
    }
}

impl Stream for FrameStream {
    type Item = Result<Inbound, Violation>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        while !this.done {
            match this.reader.next_frame() {
                Ok(Some(frame)) => return Poll::Ready(Some(Ok(frame))),
                Ok(None) => {}
                Err(violation) => {
                    this.done = true;
                    return Poll::Ready(Some(Err(violation)));
                }
            }
            // Read only when no whole frame is buffered: a client cannot run ahead of the session.
            match this.payload.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(Ok(bytes))) => this.reader.push(&bytes),
                Poll::Ready(Some(Err(_)) | None) => this.done = true,
            }
        }
        Poll::Ready(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_http::ws::CloseCode;

    const LIMITS: FrameLimits = FrameLimits {
        message_bytes: 16,
        frame_bytes: 200,
    };

    /// A masked client frame.
    fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
        let mask = [0x37, 0xfa, 0x21, 0x3d];
        let mut out = vec![if fin { 0x80 } else { 0 } | opcode];
        match payload.len() {
            n if n < 126 => out.push(0x80 | n as u8),
            n if n <= 0xffff => {
                out.push(0x80 | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(0x80 | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        out.extend_from_slice(&mask);
        out.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        out
    }

    const CONT: u8 = 0x0;
    const TEXT: u8 = 0x1;
    const BINARY: u8 = 0x2;
    const CLOSE: u8 = 0x8;
    const PING: u8 = 0x9;

    /// Everything the frames give, up to and including the first violation.
    fn read(frames: &[Vec<u8>]) -> Vec<Result<Inbound, Violation>> {
        let mut reader = FrameReader::new(LIMITS);
        let mut out = Vec::new();
        for bytes in frames {
            reader.push(bytes);
            loop {
                match reader.next_frame() {
                    Ok(Some(frame)) => out.push(Ok(frame)),
                    Ok(None) => break,
                    Err(v) => {
                        out.push(Err(v));
                        return out;
                    }
                }
            }
        }
        out
    }

    fn text(s: &str) -> Result<Inbound, Violation> {
        Ok(Inbound::Text(s.into()))
    }

    #[test]
    fn whole_frames_come_out_as_they_are() {
        assert_eq!(
            read(&[
                frame(true, TEXT, "héllo".as_bytes()),
                frame(true, BINARY, &[0xff, 0]),
                frame(true, PING, b"p"),
                frame(true, 0xA, b""),
            ]),
            [
                text("héllo"),
                Ok(Inbound::Binary(Bytes::from_static(&[0xff, 0]))),
                Ok(Inbound::Ping(Bytes::from_static(b"p"))),
                Ok(Inbound::Pong),
            ]
        );
    }

    #[test]
    fn bytes_arriving_one_at_a_time_make_the_same_frame() {
        let bytes = frame(true, TEXT, b"split");
        let chunks: Vec<Vec<u8>> = bytes.iter().map(|b| vec![*b]).collect();
        assert_eq!(read(&chunks), [text("split")]);
    }

    #[test]
    fn fragments_are_reassembled_around_control_frames() {
        // "é" is split between two fragments: only the whole message must be UTF-8.
        let e = "é".as_bytes();
        assert_eq!(
            read(&[
                frame(false, TEXT, &[b'a', e[0]]),
                frame(true, PING, b""),
                frame(false, CONT, &[e[1]]),
                frame(true, CONT, b"z"),
            ]),
            [
                Ok(Inbound::Fragment),
                Ok(Inbound::Ping(Bytes::new())),
                Ok(Inbound::Fragment),
                text("aéz"),
            ]
        );
    }

    #[test]
    fn invalid_utf8_fails_at_the_frame_that_makes_it_invalid() {
        let invalid = || Err(Violation::InvalidUtf8("text message"));
        assert_eq!(read(&[frame(true, TEXT, &[b'a', 0xff])]), [invalid()]);
        // Fail fast: the second fragment already cannot be UTF-8, whatever follows.
        assert_eq!(
            read(&[
                frame(false, TEXT, b"ok"),
                frame(false, CONT, &[0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xf4, 0x90]),
                frame(true, CONT, b"never read"),
            ]),
            [Ok(Inbound::Fragment), invalid()]
        );
        // A sequence cut off by the end of the message.
        assert_eq!(
            read(&[frame(false, TEXT, b"a"), frame(true, CONT, &[0xe2, 0x82])]),
            [Ok(Inbound::Fragment), invalid()]
        );
    }

    #[test]
    fn close_frames_are_checked() {
        let close = |payload: &[u8]| read(&[frame(true, CLOSE, payload)]).remove(0);
        assert_eq!(close(b""), Ok(Inbound::Close(None)));
        let mut normal = 1000u16.to_be_bytes().to_vec();
        normal.extend_from_slice(b"bye");
        assert_eq!(
            close(&normal),
            Ok(Inbound::Close(Some(WsCloseReason {
                code: CloseCode::Normal,
                description: Some("bye".into())
            })))
        );
        let mut bad_reason = 1000u16.to_be_bytes().to_vec();
        bad_reason.extend_from_slice(&[0xce, 0xba, 0xff]);
        assert_eq!(
            close(&bad_reason),
            Err(Violation::InvalidUtf8("close reason"))
        );
        for payload in [&[3][..], &1005u16.to_be_bytes(), &999u16.to_be_bytes()] {
            assert!(
                matches!(close(payload), Err(Violation::Protocol(_))),
                "{payload:?}"
            );
        }
    }

    #[test]
    fn fragmentation_breaches_fail_the_connection() {
        for frames in [
            vec![frame(true, CONT, b"x")],
            vec![frame(false, TEXT, b"a"), frame(true, TEXT, b"b")],
            vec![frame(false, PING, b"")],
        ] {
            let out = read(&frames);
            assert!(
                matches!(out.last(), Some(Err(Violation::Protocol(_)))),
                "{out:?}"
            );
        }
    }

    #[test]
    fn framing_errors_from_the_parser_fail_the_connection() {
        let mut reserved = frame(true, TEXT, b"x");
        reserved[0] |= 0x40;
        let mut opcode = frame(true, TEXT, b"x");
        opcode[0] = 0x80 | 0x3;
        let mut unmasked = frame(true, TEXT, b"");
        unmasked[1] &= 0x7f;
        unmasked.truncate(2);
        let long_ping = frame(true, PING, &[0; 126][..]);
        for bytes in [reserved, opcode, unmasked, long_ping] {
            assert!(matches!(
                read(&[bytes]).as_slice(),
                [Err(Violation::Protocol(_))]
            ));
        }
    }

    #[test]
    fn oversized_messages_are_counted_and_dropped_and_the_next_one_reads() {
        let big = "é".repeat(9); // 18 bytes, over 16
        let bytes = big.as_bytes();
        assert_eq!(
            read(&[
                frame(true, TEXT, bytes),
                frame(false, BINARY, &[1; 10]),
                frame(true, CONT, &[2; 10]),
                frame(false, TEXT, &bytes[..9]),
                frame(true, CONT, &bytes[9..]),
                frame(true, TEXT, b"fits"),
            ]),
            [
                Ok(Inbound::TooLarge { bytes: 18 }),
                Ok(Inbound::Fragment),
                Ok(Inbound::TooLarge { bytes: 20 }),
                Ok(Inbound::Fragment),
                Ok(Inbound::TooLarge { bytes: 18 }),
                text("fits"),
            ]
        );
    }

    #[test]
    fn utf8_is_still_checked_past_the_size_limit() {
        assert_eq!(
            read(&[
                frame(false, TEXT, &[b'a'; 20]),
                frame(true, CONT, &[b'a', 0xc0]),
            ]),
            [
                Ok(Inbound::Fragment),
                Err(Violation::InvalidUtf8("text message"))
            ]
        );
    }

    #[test]
    fn a_frame_over_the_transport_limit_fails_from_its_header() {
        let header_only = &frame(true, BINARY, &[0; 201])[..8];
        assert!(matches!(
            read(&[header_only.to_vec()]).as_slice(),
            [Err(Violation::Protocol(_))]
        ));
        let mut huge = vec![0x82, 0x80 | 127];
        huge.extend_from_slice(&u64::MAX.to_be_bytes());
        assert!(matches!(
            read(&[huge]).as_slice(),
            [Err(Violation::Protocol(_))]
        ));
    }

    #[test]
    fn violations_close_with_their_codes() {
        assert_eq!(Violation::InvalidUtf8("x").close_reason().code(), 1007);
        assert_eq!(Violation::Protocol("x".into()).close_reason().code(), 1002);
    }
}
