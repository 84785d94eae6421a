//! Wire primitives shared by the generated messages.
//!
//! Every read checks the bytes remaining before it consumes or allocates, so
//! a hostile length or count can never make the decoder allocate more than
//! the frame it was given. `bytes` and `records` fields are zero-copy slices
//! of the frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::fmt;

/// A Kafka UUID (topic ids, directory ids).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    pub const ZERO: Uuid = Uuid([0; 16]);
}

impl fmt::Debug for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Uuid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// Why a frame could not be decoded. Every variant says where it failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The frame ended before a field did.
    Truncated { needed: usize, remaining: usize },
    /// A length or count claims more bytes than the frame holds.
    LengthExceedsFrame { claimed: u64, remaining: usize },
    /// A length below -1 (or an out-of-range count).
    InvalidLength(i64),
    /// A varint longer than its type allows.
    VarintTooLong,
    /// A string that is not UTF-8.
    InvalidUtf8 { field: &'static str },
    /// Null where the spec does not allow it at this version.
    UnexpectedNull { field: &'static str },
    /// A message version outside the spec's valid versions.
    UnsupportedVersion { message: &'static str, version: i16 },
    /// An API key the spec set does not define.
    UnknownApiKey(i16),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { needed, remaining } => {
                write!(
                    f,
                    "frame truncated: needed {needed} bytes, {remaining} remain"
                )
            }
            DecodeError::LengthExceedsFrame { claimed, remaining } => {
                write!(
                    f,
                    "length {claimed} exceeds the {remaining} bytes remaining"
                )
            }
            DecodeError::InvalidLength(len) => write!(f, "invalid length {len}"),
            DecodeError::VarintTooLong => write!(f, "varint too long"),
            DecodeError::InvalidUtf8 { field } => write!(f, "{field}: string is not UTF-8"),
            DecodeError::UnexpectedNull { field } => {
                write!(f, "{field}: null is not allowed at this version")
            }
            DecodeError::UnsupportedVersion { message, version } => {
                write!(f, "{message}: version {version} is not supported")
            }
            DecodeError::UnknownApiKey(key) => write!(f, "unknown API key {key}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why a message could not be encoded at a version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EncodeError {
    UnsupportedVersion {
        message: &'static str,
        version: i16,
    },
    /// A non-ignorable field holds a non-default value at a version without it.
    FieldNotInVersion {
        field: &'static str,
        version: i16,
    },
    NullNotAllowed {
        field: &'static str,
    },
    TooLong {
        field: &'static str,
        len: usize,
    },
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::UnsupportedVersion { message, version } => {
                write!(f, "{message}: version {version} is not supported")
            }
            EncodeError::FieldNotInVersion { field, version } => {
                write!(
                    f,
                    "{field}: non-default value cannot be sent at version {version}"
                )
            }
            EncodeError::NullNotAllowed { field } => {
                write!(f, "{field}: null is not allowed at this version")
            }
            EncodeError::TooLong { field, len } => {
                write!(f, "{field}: length {len} is too long to encode")
            }
        }
    }
}

impl std::error::Error for EncodeError {}

/// Decoding from a frame; implemented by every generated struct.
pub trait Decode: Sized {
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
}

/// Encoding with the size known up front; implemented by every generated struct.
pub trait Encode {
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;
    fn encoded_size(&self, version: i16) -> usize;

    /// Encodes into one buffer sized exactly for the message.
    fn to_bytes(&self, version: i16) -> Result<BytesMut, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_size(version));
        self.encode(&mut buf, version)?;
        Ok(buf)
    }
}

/// A top-level message (request, response, header or data) and its spec facts.
pub trait Message: Decode + Encode {
    const NAME: &'static str;
    const API_KEY: Option<i16>;
    /// Inclusive range of versions the spec defines.
    const VERSIONS: (i16, i16);
    const FLEXIBLE_SINCE: Option<i16>;
}

fn need(buf: &Bytes, n: usize) -> Result<(), DecodeError> {
    if buf.remaining() < n {
        return Err(DecodeError::Truncated {
            needed: n,
            remaining: buf.remaining(),
        });
    }
    Ok(())
}

pub fn read_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    need(buf, 1)?;
    Ok(buf.get_u8() != 0)
}

pub fn read_i8(buf: &mut Bytes) -> Result<i8, DecodeError> {
    need(buf, 1)?;
    Ok(buf.get_i8())
}

pub fn read_i16(buf: &mut Bytes) -> Result<i16, DecodeError> {
    need(buf, 2)?;
    Ok(buf.get_i16())
}

pub fn read_u16(buf: &mut Bytes) -> Result<u16, DecodeError> {
    need(buf, 2)?;
    Ok(buf.get_u16())
}

pub fn read_i32(buf: &mut Bytes) -> Result<i32, DecodeError> {
    need(buf, 4)?;
    Ok(buf.get_i32())
}

pub fn read_i64(buf: &mut Bytes) -> Result<i64, DecodeError> {
    need(buf, 8)?;
    Ok(buf.get_i64())
}

pub fn read_f64(buf: &mut Bytes) -> Result<f64, DecodeError> {
    need(buf, 8)?;
    Ok(buf.get_f64())
}

pub fn read_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    need(buf, 16)?;
    let mut id = [0u8; 16];
    buf.copy_to_slice(&mut id);
    Ok(Uuid(id))
}

/// Unsigned LEB128 varint of at most 5 bytes (32 bits).
pub fn read_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        need(buf, 1)?;
        let byte = buf.get_u8();
        if i == 4 && byte > 0x0f {
            return Err(DecodeError::VarintTooLong);
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong)
}

/// Unsigned LEB128 varint of at most 10 bytes (64 bits).
pub fn read_uvarlong(buf: &mut Bytes) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        need(buf, 1)?;
        let byte = buf.get_u8();
        if i == 9 && byte > 0x01 {
            return Err(DecodeError::VarintTooLong);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong)
}

/// Zig-zag signed varint (record fields).
pub fn read_varint(buf: &mut Bytes) -> Result<i32, DecodeError> {
    let raw = read_uvarint(buf)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Zig-zag signed varlong (record fields).
pub fn read_varlong(buf: &mut Bytes) -> Result<i64, DecodeError> {
    let raw = read_uvarlong(buf)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Reads a length that may be -1 (null): int16/int32 classic, or uvarint(len+1) compact.
fn read_length(
    buf: &mut Bytes,
    compact: bool,
    classic_int16: bool,
) -> Result<Option<usize>, DecodeError> {
    let len: i64 = if compact {
        i64::from(read_uvarint(buf)?) - 1
    } else if classic_int16 {
        i64::from(read_i16(buf)?)
    } else {
        i64::from(read_i32(buf)?)
    };
    if len == -1 {
        return Ok(None);
    }
    if len < 0 {
        return Err(DecodeError::InvalidLength(len));
    }
    let len = len as u64;
    if len > buf.remaining() as u64 {
        return Err(DecodeError::LengthExceedsFrame {
            claimed: len,
            remaining: buf.remaining(),
        });
    }
    Ok(Some(len as usize))
}

/// Takes exactly `len` bytes as a zero-copy slice.
pub fn read_slice(buf: &mut Bytes, len: usize) -> Result<Bytes, DecodeError> {
    if len > buf.remaining() {
        return Err(DecodeError::LengthExceedsFrame {
            claimed: len as u64,
            remaining: buf.remaining(),
        });
    }
    Ok(buf.split_to(len))
}

/// A nullable string; `None` is null.
pub fn read_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>, DecodeError> {
    let Some(len) = read_length(buf, compact, true)? else {
        return Ok(None);
    };
    let raw = buf.split_to(len);
    match std::str::from_utf8(&raw) {
        Ok(s) => Ok(Some(s.to_owned())),
        Err(_) => Err(DecodeError::InvalidUtf8 { field: "string" }),
    }
}

/// Nullable bytes (also `records`), sliced from the frame without copying.
pub fn read_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>, DecodeError> {
    let Some(len) = read_length(buf, compact, false)? else {
        return Ok(None);
    };
    Ok(Some(buf.split_to(len)))
}

/// A nullable array. The count is checked against the bytes remaining (every
/// element takes at least one byte on the wire, except in degenerate empty
/// structs, which the same bound still caps) and the initial capacity never
/// exceeds the bytes remaining, so a hostile count cannot force a large allocation.
pub fn read_array<T>(
    buf: &mut Bytes,
    compact: bool,
    mut element: impl FnMut(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<Vec<T>>, DecodeError> {
    let Some(count) = read_length(buf, compact, false)? else {
        return Ok(None);
    };
    let capacity = count.min(buf.remaining() / std::mem::size_of::<T>().max(1));
    let mut items = Vec::with_capacity(capacity);
    for _ in 0..count {
        items.push(element(buf)?);
    }
    Ok(Some(items))
}

/// A nullable struct: an int8 marker (-1 null, otherwise present) then the struct.
pub fn read_nullable_struct<T>(
    buf: &mut Bytes,
    decode: impl FnOnce(&mut Bytes) -> Result<T, DecodeError>,
) -> Result<Option<T>, DecodeError> {
    if read_i8(buf)? < 0 {
        return Ok(None);
    }
    decode(buf).map(Some)
}

/// Number of tagged fields that follow, bounded by the bytes remaining
/// (each takes at least two bytes: tag and size).
pub fn read_tagged_count(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let count = read_uvarint(buf)?;
    if u64::from(count) * 2 > buf.remaining() as u64 {
        return Err(DecodeError::LengthExceedsFrame {
            claimed: u64::from(count),
            remaining: buf.remaining(),
        });
    }
    Ok(count)
}

/// One tagged field: its tag and its bytes (a slice, decoded or skipped by the caller).
pub fn read_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeError> {
    let tag = read_uvarint(buf)?;
    let size = read_uvarint(buf)? as usize;
    Ok((tag, read_slice(buf, size)?))
}

pub fn required<T>(value: Option<T>, field: &'static str) -> Result<T, DecodeError> {
    value.ok_or(DecodeError::UnexpectedNull { field })
}

pub fn check_decoded_null<T>(
    value: Option<T>,
    null_ok: bool,
    field: &'static str,
) -> Result<Option<T>, DecodeError> {
    if value.is_none() && !null_ok {
        return Err(DecodeError::UnexpectedNull { field });
    }
    Ok(value)
}

pub fn check_encoded_null<T>(
    value: Option<T>,
    null_ok: bool,
    field: &'static str,
) -> Result<Option<T>, EncodeError> {
    if value.is_none() && !null_ok {
        return Err(EncodeError::NullNotAllowed { field });
    }
    Ok(value)
}

pub fn to_u32(size: usize, field: &'static str) -> Result<u32, EncodeError> {
    u32::try_from(size).map_err(|_| EncodeError::TooLong { field, len: size })
}

pub fn put_bool(buf: &mut BytesMut, v: bool) -> Result<(), EncodeError> {
    buf.put_u8(u8::from(v));
    Ok(())
}

pub fn put_i8(buf: &mut BytesMut, v: i8) -> Result<(), EncodeError> {
    buf.put_i8(v);
    Ok(())
}

pub fn put_i16(buf: &mut BytesMut, v: i16) -> Result<(), EncodeError> {
    buf.put_i16(v);
    Ok(())
}

pub fn put_u16(buf: &mut BytesMut, v: u16) -> Result<(), EncodeError> {
    buf.put_u16(v);
    Ok(())
}

pub fn put_i32(buf: &mut BytesMut, v: i32) -> Result<(), EncodeError> {
    buf.put_i32(v);
    Ok(())
}

pub fn put_i64(buf: &mut BytesMut, v: i64) -> Result<(), EncodeError> {
    buf.put_i64(v);
    Ok(())
}

pub fn put_f64(buf: &mut BytesMut, v: f64) -> Result<(), EncodeError> {
    buf.put_f64(v);
    Ok(())
}

pub fn put_uuid(buf: &mut BytesMut, v: Uuid) -> Result<(), EncodeError> {
    buf.put_slice(&v.0);
    Ok(())
}

pub fn put_uvarint(buf: &mut impl BufMut, mut v: u32) -> Result<(), EncodeError> {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
    Ok(())
}

pub fn put_uvarlong(buf: &mut impl BufMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

pub fn put_varint(buf: &mut impl BufMut, v: i32) {
    let _ = put_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

pub fn put_varlong(buf: &mut impl BufMut, v: i64) {
    put_uvarlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

pub fn size_uvarint(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

pub fn size_uvarlong(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

pub fn size_varint(v: i32) -> usize {
    size_uvarint(((v << 1) ^ (v >> 31)) as u32)
}

pub fn size_varlong(v: i64) -> usize {
    size_uvarlong(((v << 1) ^ (v >> 63)) as u64)
}

/// Writes a length (or -1 for null) in the classic or compact form.
fn put_length(
    buf: &mut BytesMut,
    len: Option<usize>,
    compact: bool,
    classic_int16: bool,
) -> Result<(), EncodeError> {
    match (len, compact) {
        (None, true) => put_uvarint(buf, 0),
        (Some(n), true) => {
            let n = u32::try_from(n).ok().and_then(|n| n.checked_add(1));
            put_uvarint(
                buf,
                n.ok_or(EncodeError::TooLong {
                    field: "compact length",
                    len: len.unwrap_or(0),
                })?,
            )
        }
        (None, false) if classic_int16 => put_i16(buf, -1),
        (None, false) => put_i32(buf, -1),
        (Some(n), false) if classic_int16 => put_i16(
            buf,
            i16::try_from(n).map_err(|_| EncodeError::TooLong {
                field: "string",
                len: n,
            })?,
        ),
        (Some(n), false) => put_i32(
            buf,
            i32::try_from(n).map_err(|_| EncodeError::TooLong {
                field: "bytes",
                len: n,
            })?,
        ),
    }
}

fn size_length(len: Option<usize>, compact: bool, classic_int16: bool) -> usize {
    match (len, compact) {
        (None, true) => 1,
        (Some(n), true) => size_uvarint((n as u32).saturating_add(1)),
        (_, false) if classic_int16 => 2,
        (_, false) => 4,
    }
}

pub fn put_string(buf: &mut BytesMut, v: Option<&str>, compact: bool) -> Result<(), EncodeError> {
    put_length(buf, v.map(str::len), compact, true)?;
    if let Some(s) = v {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

pub fn size_string(v: Option<&str>, compact: bool) -> usize {
    size_length(v.map(str::len), compact, true) + v.map_or(0, str::len)
}

pub fn put_bytes(buf: &mut BytesMut, v: Option<&[u8]>, compact: bool) -> Result<(), EncodeError> {
    put_length(buf, v.map(<[u8]>::len), compact, false)?;
    if let Some(b) = v {
        buf.put_slice(b);
    }
    Ok(())
}

pub fn size_bytes(v: Option<&[u8]>, compact: bool) -> usize {
    size_length(v.map(<[u8]>::len), compact, false) + v.map_or(0, <[u8]>::len)
}

pub fn put_array<T>(
    buf: &mut BytesMut,
    v: Option<&[T]>,
    compact: bool,
    mut element: impl FnMut(&mut BytesMut, &T) -> Result<(), EncodeError>,
) -> Result<(), EncodeError> {
    put_length(buf, v.map(<[T]>::len), compact, false)?;
    for item in v.unwrap_or(&[]) {
        element(buf, item)?;
    }
    Ok(())
}

pub fn size_array<T>(v: Option<&[T]>, compact: bool, element: impl Fn(&T) -> usize) -> usize {
    size_length(v.map(<[T]>::len), compact, false)
        + v.map_or(0, |items| items.iter().map(element).sum())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_boundaries() {
        for v in [
            0u32,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0x1f_ffff,
            0x20_0000,
            u32::MAX,
        ] {
            let mut buf = BytesMut::new();
            put_uvarint(&mut buf, v).unwrap();
            assert_eq!(buf.len(), size_uvarint(v));
            assert_eq!(read_uvarint(&mut buf.freeze()).unwrap(), v);
        }
        for v in [0i64, -1, 1, i64::MIN, i64::MAX, 300, -300] {
            let mut buf = BytesMut::new();
            put_varlong(&mut buf, v);
            assert_eq!(buf.len(), size_varlong(v));
            assert_eq!(read_varlong(&mut buf.freeze()).unwrap(), v);
        }
    }

    #[test]
    fn overlong_varints_are_rejected() {
        let mut buf = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(read_uvarint(&mut buf), Err(DecodeError::VarintTooLong));
        let mut buf = Bytes::from_static(&[0xff; 11]);
        assert_eq!(read_uvarlong(&mut buf), Err(DecodeError::VarintTooLong));
    }

    #[test]
    fn hostile_array_count_fails_without_allocating() {
        // Claims 704,643,072 elements with 4 bytes behind it.
        let mut buf = Bytes::from_static(&[0x2a, 0x00, 0x00, 0x00, 0, 0, 0, 0]);
        let result = read_array(&mut buf, false, read_i32);
        assert!(matches!(
            result,
            Err(DecodeError::LengthExceedsFrame {
                claimed: 704_643_072,
                ..
            })
        ));
    }

    #[test]
    fn strings_are_bounded_and_checked() {
        let mut buf = Bytes::from_static(&[0x7f, 0xff, b'a']);
        assert!(matches!(
            read_string(&mut buf, false),
            Err(DecodeError::LengthExceedsFrame { .. })
        ));
        let mut buf = Bytes::from_static(&[0x00, 0x02, 0xff, 0xfe]);
        assert!(matches!(
            read_string(&mut buf, false),
            Err(DecodeError::InvalidUtf8 { .. })
        ));
        let mut buf = Bytes::from_static(&[0xff, 0xfe]);
        assert_eq!(
            read_string(&mut buf, false),
            Err(DecodeError::InvalidLength(-2))
        );
        let mut buf = Bytes::from_static(&[0x00]);
        assert_eq!(read_string(&mut buf, true), Ok(None));
    }
}
