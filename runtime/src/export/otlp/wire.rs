//! The protobuf wire format, written straight into a byte buffer: varints, tags, and nested
//! messages whose length is patched in after their body is written. Only what OTLP's messages
//! use. Like prost, a field at its default value (0, "", empty bytes) is left out, while a nested
//! message that is present is written even when empty.

/// Wire type of varints (ints, enums, bools).
const VARINT: u8 = 0;
/// Wire type of 8-byte little-endian values (fixed64, double).
const I64: u8 = 1;
/// Wire type of length-delimited values (strings, bytes, messages).
const LEN: u8 = 2;
/// Wire type of 4-byte little-endian values (fixed32).
const I32: u8 = 5;

/// Appends `v` as a base-128 varint.
#[inline]
pub(crate) fn varint(buf: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        buf.push((v as u8) | 0x80);
        v >>= 7;
    }
    buf.push(v as u8);
}

/// `v` as a varint on the stack: the bytes and how many of them are used.
#[inline]
fn varint_bytes(mut v: u64) -> ([u8; 10], usize) {
    let mut out = [0u8; 10];
    let mut n = 0;
    while v >= 0x80 {
        out[n] = (v as u8) | 0x80;
        v >>= 7;
        n += 1;
    }
    out[n] = v as u8;
    (out, n + 1)
}

/// Bytes `v` takes as a varint.
#[inline]
pub(crate) fn varint_len(v: u64) -> usize {
    // 1 byte per started group of 7 bits; 0 takes one byte.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

#[inline]
fn key(buf: &mut Vec<u8>, field: u32, wire: u8) {
    varint(buf, (u64::from(field) << 3) | u64::from(wire));
}

/// A `uint32`/`uint64`/enum field (left out when 0).
#[inline]
pub(crate) fn uint(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(buf, field, VARINT);
        varint(buf, v);
    }
}

/// A `bool` field (left out when false).
#[inline]
pub(crate) fn boolean(buf: &mut Vec<u8>, field: u32, v: bool) {
    uint(buf, field, u64::from(v));
}

/// A `fixed64` field (left out when 0).
#[inline]
pub(crate) fn fixed64(buf: &mut Vec<u8>, field: u32, v: u64) {
    if v != 0 {
        key(buf, field, I64);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `fixed32` field (left out when 0).
#[inline]
pub(crate) fn fixed32(buf: &mut Vec<u8>, field: u32, v: u32) {
    if v != 0 {
        key(buf, field, I32);
        buf.extend_from_slice(&v.to_le_bytes());
    }
}

/// A `string` or `bytes` field (left out when empty).
#[inline]
pub(crate) fn bytes(buf: &mut Vec<u8>, field: u32, v: &[u8]) {
    if !v.is_empty() {
        key(buf, field, LEN);
        varint(buf, v.len() as u64);
        buf.extend_from_slice(v);
    }
}

/// A `string` field (left out when empty).
#[inline]
pub(crate) fn string(buf: &mut Vec<u8>, field: u32, v: &str) {
    bytes(buf, field, v.as_bytes());
}

/// Fields that are written even at their default value: members of a `oneof` and `optional`
/// fields that are set (an `AnyValue` holding `""`, `0` or `false` still says which it holds).
pub(crate) mod always {
    use super::{key, varint, I64, LEN, VARINT};

    /// A varint (`int64`, `bool`).
    #[inline]
    pub(crate) fn varint_field(buf: &mut Vec<u8>, field: u32, v: u64) {
        key(buf, field, VARINT);
        varint(buf, v);
    }

    /// A `double`.
    #[inline]
    pub(crate) fn double(buf: &mut Vec<u8>, field: u32, v: f64) {
        key(buf, field, I64);
        buf.extend_from_slice(&v.to_le_bytes());
    }

    /// An `sfixed64`.
    #[inline]
    pub(crate) fn sfixed64(buf: &mut Vec<u8>, field: u32, v: i64) {
        key(buf, field, I64);
        buf.extend_from_slice(&v.to_le_bytes());
    }

    /// A `string`.
    #[inline]
    pub(crate) fn string(buf: &mut Vec<u8>, field: u32, v: &str) {
        key(buf, field, LEN);
        varint(buf, v.len() as u64);
        buf.extend_from_slice(v.as_bytes());
    }
}

/// A packed `repeated fixed64` (left out when empty).
pub(crate) fn packed_fixed64(buf: &mut Vec<u8>, field: u32, vs: impl ExactSizeIterator<Item = u64>) {
    if vs.len() > 0 {
        key(buf, field, LEN);
        varint(buf, 8 * vs.len() as u64);
        for v in vs {
            buf.extend_from_slice(&v.to_le_bytes());
        }
    }
}

/// A packed `repeated double` (left out when empty).
pub(crate) fn packed_double(buf: &mut Vec<u8>, field: u32, vs: impl ExactSizeIterator<Item = f64>) {
    packed_fixed64(buf, field, vs.map(f64::to_bits));
}

/// A nested message, written whole (even when its body is empty) by `body`.
///
/// One byte is kept for the length; a body of 128 bytes or more moves right by the bytes its
/// longer length needs (a copy of the body, cheaper than measuring every field twice).
#[inline]
pub(crate) fn message(buf: &mut Vec<u8>, field: u32, body: impl FnOnce(&mut Vec<u8>)) {
    message_with_room(buf, field, 1, body);
}

/// [`message`] keeping `room` bytes for the length: for messages that are usually longer than
/// 127 bytes (a span), 2 saves moving the body; a body whose length needs fewer or more bytes
/// moves left or right.
#[inline]
pub(crate) fn message_with_room(buf: &mut Vec<u8>, field: u32, room: usize, body: impl FnOnce(&mut Vec<u8>)) {
    key(buf, field, LEN);
    let at = buf.len();
    buf.resize(at + room, 0);
    body(buf);
    let end = buf.len();
    let len = end - at - room;
    if room == 1 && len < 0x80 {
        buf[at] = len as u8;
        return;
    }
    let (head, n) = varint_bytes(len as u64);
    if n > room {
        buf.resize(end + n - room, 0);
        buf.copy_within(at + room..end, at + n);
    } else if n < room {
        buf.copy_within(at + room..end, at + n);
        buf.truncate(end - (room - n));
    }
    buf[at..at + n].copy_from_slice(&head[..n]);
}

/// The key and length of a nested message whose `len` body bytes follow separately.
pub(crate) fn message_head(buf: &mut Vec<u8>, field: u32, len: usize) {
    key(buf, field, LEN);
    varint(buf, len as u64);
}

/// Bytes the key and length of a nested message of `len` bytes take (field numbers below 16).
pub(crate) fn message_head_len(len: usize) -> usize {
    1 + varint_len(len as u64)
}

/// Reading, for what comes back: the few response fields telemark looks at.
pub(crate) mod read {
    /// One field of a message: its number and value.
    #[derive(Debug, PartialEq)]
    pub(crate) enum Field<'a> {
        Varint(u32, u64),
        Bytes(u32, &'a [u8]),
        /// A fixed-width value, skipped.
        Other(u32),
    }

    /// The fields of a message, in order; stops at the first malformed byte.
    pub(crate) fn fields(mut buf: &[u8]) -> impl Iterator<Item = Field<'_>> {
        std::iter::from_fn(move || {
            let k = varint(&mut buf)?;
            let field = u32::try_from(k >> 3).ok()?;
            match k & 7 {
                0 => Some(Field::Varint(field, varint(&mut buf)?)),
                1 => {
                    buf = buf.get(8..)?;
                    Some(Field::Other(field))
                }
                2 => {
                    let len = usize::try_from(varint(&mut buf)?).ok()?;
                    let (v, rest) = (buf.get(..len)?, buf.get(len..)?);
                    buf = rest;
                    Some(Field::Bytes(field, v))
                }
                5 => {
                    buf = buf.get(4..)?;
                    Some(Field::Other(field))
                }
                _ => None,
            }
        })
    }

    fn varint(buf: &mut &[u8]) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let (&b, rest) = buf.split_first()?;
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_and_their_lengths() {
        for (v, bytes) in [
            (0u64, vec![0]),
            (1, vec![1]),
            (127, vec![0x7f]),
            (128, vec![0x80, 1]),
            (300, vec![0xac, 0x02]),
            (u64::MAX, vec![0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1]),
        ] {
            let mut buf = Vec::new();
            varint(&mut buf, v);
            assert_eq!(buf, bytes, "{v}");
            assert_eq!(varint_len(v), bytes.len(), "{v}");
        }
    }

    #[test]
    fn a_long_message_moves_its_body_behind_a_longer_length() {
        for n in [0usize, 1, 127, 128, 300, 20_000] {
            let mut buf = vec![0xaa];
            message(&mut buf, 2, |b| b.extend(std::iter::repeat_n(7u8, n)));
            let mut want = vec![0xaa, 0x12];
            varint(&mut want, n as u64);
            want.extend(std::iter::repeat_n(7u8, n));
            assert_eq!(buf, want, "{n}");
        }
    }

    #[test]
    fn room_for_a_longer_length_is_used_or_given_back() {
        for room in [1, 2, 3] {
            for n in [0usize, 5, 127, 128, 300, 16_383, 16_384, 70_000] {
                let mut buf = vec![0xaa];
                message_with_room(&mut buf, 2, room, |b| b.extend(std::iter::repeat_n(7u8, n)));
                let mut want = vec![0xaa, 0x12];
                varint(&mut want, n as u64);
                want.extend(std::iter::repeat_n(7u8, n));
                assert_eq!(buf, want, "room {room}, body {n}");
            }
        }
    }

    #[test]
    fn reads_back_what_it_wrote() {
        let mut buf = Vec::new();
        uint(&mut buf, 1, 300);
        string(&mut buf, 2, "hi");
        fixed64(&mut buf, 3, 9);
        fixed32(&mut buf, 4, 9);
        message(&mut buf, 5, |b| uint(b, 1, 1));
        let got: Vec<_> = read::fields(&buf).collect();
        assert_eq!(
            got,
            [
                read::Field::Varint(1, 300),
                read::Field::Bytes(2, b"hi"),
                read::Field::Other(3),
                read::Field::Other(4),
                read::Field::Bytes(5, &[8, 1]),
            ]
        );
        assert_eq!(read::fields(&[0x0a, 5, 1]).count(), 0, "a length past the end stops");
    }
}
