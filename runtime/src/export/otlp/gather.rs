//! Fewer, larger writes to the socket. HTTP/2 sends a request's body as DATA frames of at most
//! the peer's `SETTINGS_MAX_FRAME_SIZE` (16 KiB unless it says more), and h2 writes each frame
//! with a system call of its own: a 600 KiB OTLP request took 40 `writev`s, against 2 over
//! HTTP/1.1. This connection gathers what h2 writes into one buffer and hands it to the socket
//! when the buffer is full or h2 has nothing more to write — a copy per byte instead of a system
//! call per frame.
//!
//! h2 flushes after every frame, so a flush cannot mean "send now": the first flush after new
//! bytes only wakes the connection's task and returns; h2, polled again, writes its next frame
//! (and flushes again) if it has one. A flush with nothing new since the last one, a full buffer,
//! a read (h2 reads on every poll of the connection) and a shutdown write out what was gathered.
//! Each wake needs new bytes, so this never spins.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// Bytes gathered before they go to the socket, at most.
const GATHER: usize = 64 * 1024;

/// A connector (plain TCP, or TLS over it) whose connections gather writes (see the module's
/// documentation) when `gather` (HTTP/2); for HTTP/1.1, which writes a request's head and body
/// at once, they pass through. Gathering above TLS also makes fewer, larger TLS records.
#[derive(Clone)]
pub(super) struct Gathering<C> {
    pub connector: C,
    pub gather: bool,
}

impl<C> tower_service::Service<http::Uri> for Gathering<C>
where
    C: tower_service::Service<http::Uri> + Clone + Send + 'static,
    C::Future: Send + 'static,
    C::Response: Send + 'static,
{
    type Response = Gathered<C::Response>;
    type Error = C::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.connector.poll_ready(cx)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let connecting = self.connector.call(uri);
        let gather = self.gather;
        Box::pin(async move {
            Ok(Gathered { io: connecting.await?, gather, buf: Vec::new(), sent: 0, flushed_at: 0 })
        })
    }
}

/// A connection that gathers writes.
pub(super) struct Gathered<T> {
    io: T,
    gather: bool,
    /// Written by h2, not yet by the socket: `buf[sent..]`.
    buf: Vec<u8>,
    sent: usize,
    /// `buf`'s length at the last flush that was put off.
    flushed_at: usize,
}

impl<T: Write + Unpin> Gathered<T> {
    /// Writes out what was gathered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        self.flushed_at = 0;
        Poll::Ready(Ok(()))
    }

    /// Room for at least one more byte, draining first when the buffer is full.
    fn poll_room(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if self.buf.len() >= GATHER {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(GATHER - self.buf.len()))
    }
}

impl<T: Write + Unpin> Write for Gathered<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, data: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.gather {
            return Pin::new(&mut this.io).poll_write(cx, data);
        }
        let room = ready!(this.poll_room(cx))?;
        let n = data.len().min(room);
        this.buf.extend_from_slice(&data[..n]);
        Poll::Ready(Ok(n))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !this.gather {
            return Pin::new(&mut this.io).poll_write_vectored(cx, slices);
        }
        let mut room = ready!(this.poll_room(cx))?;
        let mut n = 0;
        for s in slices {
            let take = s.len().min(room);
            this.buf.extend_from_slice(&s[..take]);
            n += take;
            room -= take;
            if room == 0 {
                break;
            }
        }
        Poll::Ready(Ok(n))
    }

    fn is_write_vectored(&self) -> bool {
        self.gather || self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.gather && this.buf.len() > this.flushed_at && this.buf.len() < GATHER {
            // Put off: h2 may have another frame to write when polled again.
            this.flushed_at = this.buf.len();
            cx.waker().wake_by_ref();
            return Poll::Ready(Ok(()));
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

impl<T: Read + Write + Unpin> Read for Gathered<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.sent < this.buf.len() {
            // A write that cannot go on now wakes the task when it can; a failed one fails the
            // next write or flush too.
            if let Poll::Ready(Err(e)) = this.poll_drain(cx) {
                return Poll::Ready(Err(e));
            }
        }
        Pin::new(&mut this.io).poll_read(cx, buf)
    }
}

impl<T: Connection> Connection for Gathered<T> {
    fn connected(&self) -> Connected {
        self.io.connected()
    }
}
