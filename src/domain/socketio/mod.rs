//! The Socket.IO wire formats, as pure codecs: Engine.IO v4 packets and polling payloads
//! ([`engine`]), Socket.IO v5 packets ([`packet`]), and the Socket.IO form of the frames the
//! server already encoded for `/ws` ([`event`]). No I/O here: the transport that speaks them is
//! `pipeline::session`'s.

pub mod engine;
pub mod event;
pub mod packet;
pub mod recovery;
