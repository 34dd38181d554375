//! The byte stream each dialling stage hands to the next: TCP, a proxy
//! tunnel, TLS. A leaf: it knows no stage.

use tokio::io::{AsyncRead, AsyncWrite};

/// Any byte stream a stage hands to the next.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}
/// A boxed [`Io`].
pub type BoxIo = Box<dyn Io>;
