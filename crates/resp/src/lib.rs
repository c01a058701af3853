//! RESP2/RESP3 codec.
//!
//! - `reply`: the protocol-neutral [`Reply`] value that every command returns.
//! - `decode`: the streaming request decoder (arrays of bulk strings and inline commands),
//!   with every limit checked before anything is allocated.
//! - `encode`: writes a [`Reply`] as RESP2 or RESP3, and a command as a client request.

mod decode;
mod encode;
mod reply;

pub use decode::{Decoder, Limits, ProtocolError, decode_command};
pub use encode::{encode, encode_command, format_double};
pub use reply::{Protocol, Reply};
