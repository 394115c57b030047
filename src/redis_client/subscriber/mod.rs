//! The classic subscriber connection, spoken by tickrouter itself: it carries almost every
//! message tickrouter reads, and the redis crate's general-purpose client spent more on each
//! one (a `Value` tree, a copied `Vec` per string, a task hand-off per message) than the
//! normaliser did. Here the socket is read into one buffer, whole replies are cut off it in
//! [`Chunk`]s, and each message borrows its channel and payload from the chunk ([`resp`]).
//!
//! [`connect`] opens the transport (TCP, a Unix socket, or TLS with the `[redis.tls]`
//! material), authenticates, subscribes, and returns once Redis has answered all of it, so a
//! refused password or channel fails the attempt with Redis's own words. After that the
//! connection is split: the [`Reader`] yields chunks, the [`Writer`] sends keep-alive PINGs.

pub mod resp;
mod transport;

use std::fmt;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};

pub use resp::{Incoming, ProtocolError};
pub use transport::{tls_config, Endpoint};

use transport::Transport;

/// How much one read asks the socket for.
const READ_SIZE: usize = 64 * 1024;

/// Why a subscriber connection could not be made or was lost.
#[derive(Debug)]
pub enum Error {
    Io(std::io::Error),
    Protocol(ProtocolError),
    /// Redis answered a command with an error (a wrong password, a channel the ACL denies).
    Refused(String),
    /// Redis closed the connection.
    Closed,
    /// Connecting, or Redis's answer to it, took longer than allowed.
    Timeout(Duration),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "{e}"),
            Error::Protocol(e) => write!(f, "{e}"),
            Error::Refused(e) => write!(f, "Redis refused: {e}"),
            Error::Closed => f.write_str("connection closed by Redis"),
            Error::Timeout(t) => write!(f, "no answer from Redis within {t:?}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

/// Connects to `endpoint` and subscribes `channels` and `patterns`, all within `timeout`.
pub async fn connect(
    endpoint: &Endpoint,
    channels: &[&str],
    patterns: &[&str],
    timeout: Duration,
) -> Result<(Reader, Writer), Error> {
    let handshake = async {
        let transport = endpoint.open().await?;
        let (read, mut write) = tokio::io::split(transport);
        let mut commands = Vec::new();
        if let (username, Some(password)) = endpoint.credentials() {
            redis::cmd("AUTH")
                .arg(username)
                .arg(password)
                .write_packed_command(&mut commands);
        }
        for (verb, names) in [("SUBSCRIBE", channels), ("PSUBSCRIBE", patterns)] {
            if !names.is_empty() {
                redis::cmd(verb)
                    .arg(names)
                    .write_packed_command(&mut commands);
            }
        }
        // Answered after everything above: its answer says the rest has been answered.
        redis::cmd("PING").write_packed_command(&mut commands);
        write.write_all(&commands).await?;
        let mut reader = Reader {
            read,
            buf: BytesMut::with_capacity(READ_SIZE),
        };
        reader.await_answers().await?;
        Ok((reader, Writer { write }))
    };
    tokio::time::timeout(timeout, handshake)
        .await
        .map_err(|_| Error::Timeout(timeout))?
}

/// Whole replies cut off the read buffer, in order; [`Chunk::replies`] reads them in place.
pub struct Chunk {
    bytes: Bytes,
    /// How many replies it holds.
    pub count: usize,
}

impl Chunk {
    pub fn replies(&self) -> resp::Replies<'_> {
        resp::replies(&self.bytes, self.count)
    }
}

pub struct Reader {
    read: ReadHalf<Transport>,
    buf: BytesMut,
}

impl Reader {
    /// The next whole replies, at most `max` of them, read from the socket when none is
    /// buffered. Fails when the connection closes or its bytes are not RESP.
    pub async fn next_chunk(&mut self, max: usize) -> Result<Chunk, Error> {
        loop {
            let (count, len) = resp::complete(&self.buf, max)?;
            if count > 0 {
                let bytes = self.buf.split_to(len).freeze();
                return Ok(Chunk { bytes, count });
            }
            self.fill().await?;
        }
    }

    /// Reads until the answer to the handshake's closing PING, leaving every reply in the
    /// buffer: messages can arrive between the confirmations, and they are the reader's.
    async fn await_answers(&mut self) -> Result<(), Error> {
        let mut at = 0;
        loop {
            while let Some((incoming, n)) = resp::parse(&self.buf[at..])? {
                at += n;
                match incoming {
                    Incoming::Error(e) => {
                        return Err(Error::Refused(String::from_utf8_lossy(e).into_owned()))
                    }
                    Incoming::Pong => return Ok(()),
                    _ => {}
                }
            }
            self.fill().await?;
        }
    }

    async fn fill(&mut self) -> Result<(), Error> {
        self.buf.reserve(READ_SIZE);
        match self.read.read_buf(&mut self.buf).await? {
            0 => Err(Error::Closed),
            _ => Ok(()),
        }
    }
}

pub struct Writer {
    write: WriteHalf<Transport>,
}

impl Writer {
    /// A keep-alive PING; its answer arrives as a reply like any other.
    pub async fn ping(&mut self) -> Result<(), Error> {
        let ping = redis::cmd("PING").get_packed_command();
        self.write.write_all(&ping).await?;
        Ok(())
    }
}
