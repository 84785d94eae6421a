//! The batch compression codecs, as Kafka's Java client writes them.
//!
//! Decompression never trusts a size the data declares: output is read in
//! chunks through `Read::take(limit + 1)` (or, for snappy, each block's
//! declared length is checked against the room left) so a small hostile
//! input cannot make the broker allocate more than `limit` bytes.

use super::error::RecordError;
use bytes::{BufMut, Bytes, BytesMut};
use std::io::{Read, Write};

/// The codec in attribute bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Compression {
    #[default]
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// All codecs, for tests and tools.
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// The codec with wire id `id` (0..=4).
    pub fn from_id(id: u8) -> Result<Self, RecordError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordError::UnsupportedCompression(other)),
        }
    }

    /// The wire id stored in attribute bits 0-2.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

/// The 8-byte magic that starts a snappy-java (xerial) stream.
const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Magic + version i32 + compatible version i32.
const XERIAL_HEADER_LEN: usize = 16;
/// snappy-java's defaults, written by Kafka's Java producer.
const XERIAL_VERSION: i32 = 1;
const XERIAL_COMPATIBLE_VERSION: i32 = 1;
const XERIAL_BLOCK_SIZE: usize = 32 * 1024;
/// Kafka's default gzip/zstd levels.
const ZSTD_LEVEL: i32 = 3;

fn codec_error(codec: Compression, err: impl std::fmt::Display) -> RecordError {
    RecordError::Compression {
        codec,
        message: err.to_string(),
    }
}

/// Compresses a records section with `codec`, appending to `out`.
pub fn compress(codec: Compression, input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    let mut writer = out.writer();
    match codec {
        Compression::None => writer.write_all(input).map_err(|e| codec_error(codec, e)),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(writer, flate2::Compression::default());
            enc.write_all(input)
                .and_then(|()| enc.finish().map(drop))
                .map_err(|e| codec_error(codec, e))
        }
        Compression::Snappy => compress_xerial(input, out),
        Compression::Lz4 => {
            // Java's KafkaLZ4BlockInputStream rejects dependent blocks, and
            // 64 KiB is the block size Kafka's producer uses.
            let info = lz4_flex::frame::FrameInfo::new()
                .block_size(lz4_flex::frame::BlockSize::Max64KB)
                .block_mode(lz4_flex::frame::BlockMode::Independent);
            let mut enc = lz4_flex::frame::FrameEncoder::with_frame_info(info, writer);
            enc.write_all(input).map_err(|e| codec_error(codec, e))?;
            enc.finish().map(drop).map_err(|e| codec_error(codec, e))
        }
        Compression::Zstd => {
            let mut enc = zstd::stream::write::Encoder::new(writer, ZSTD_LEVEL)
                .map_err(|e| codec_error(codec, e))?;
            enc.write_all(input)
                .and_then(|()| enc.finish().map(drop))
                .map_err(|e| codec_error(codec, e))
        }
    }
}

/// snappy-java framing: header, then `[i32 length][raw snappy block]` per 32 KiB of input.
fn compress_xerial(input: &[u8], out: &mut BytesMut) -> Result<(), RecordError> {
    out.put_slice(&XERIAL_MAGIC);
    out.put_i32(XERIAL_VERSION);
    out.put_i32(XERIAL_COMPATIBLE_VERSION);
    let mut encoder = snap::raw::Encoder::new();
    for chunk in input.chunks(XERIAL_BLOCK_SIZE) {
        let block = encoder
            .compress_vec(chunk)
            .map_err(|e| codec_error(Compression::Snappy, e))?;
        let len = i32::try_from(block.len()).map_err(|_| RecordError::EncodingOverflow {
            field: "snappy block",
        })?;
        out.put_i32(len);
        out.put_slice(&block);
    }
    Ok(())
}

/// Decompresses a records section, failing with `DecompressedTooLarge` as
/// soon as the output would exceed `limit` bytes.
pub fn decompress(codec: Compression, input: &[u8], limit: usize) -> Result<Bytes, RecordError> {
    match codec {
        Compression::None => {
            if input.len() > limit {
                return Err(RecordError::DecompressedTooLarge { limit });
            }
            Ok(Bytes::copy_from_slice(input))
        }
        Compression::Gzip => read_capped(codec, flate2::read::GzDecoder::new(input), limit),
        Compression::Snappy => decompress_snappy(input, limit),
        Compression::Lz4 => read_capped(codec, lz4_flex::frame::FrameDecoder::new(input), limit),
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| codec_error(codec, e))?;
            read_capped(codec, decoder, limit)
        }
    }
}

/// Reads a decoder to its end, but never more than `limit + 1` bytes: the
/// extra byte tells "exactly at the limit" from "over it".
fn read_capped(codec: Compression, reader: impl Read, limit: usize) -> Result<Bytes, RecordError> {
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    reader
        .take(cap)
        .read_to_end(&mut out)
        .map_err(|e| codec_error(codec, e))?;
    if out.len() > limit {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    Ok(Bytes::from(out))
}

/// Snappy as Kafka producers send it: xerial-framed (Java) or, from some
/// non-Java clients, one raw snappy block.
fn decompress_snappy(input: &[u8], limit: usize) -> Result<Bytes, RecordError> {
    let mut out = Vec::new();
    match input.strip_prefix(&XERIAL_MAGIC) {
        Some(rest) => {
            // Version and compatible version are informational; skip them.
            let mut blocks = rest.get(XERIAL_HEADER_LEN - XERIAL_MAGIC.len()..).ok_or(
                RecordError::Truncated {
                    field: "snappy xerial header",
                    needed: XERIAL_HEADER_LEN,
                    remaining: input.len(),
                },
            )?;
            while !blocks.is_empty() {
                let (len_bytes, rest) =
                    blocks
                        .split_first_chunk::<4>()
                        .ok_or(RecordError::Truncated {
                            field: "snappy block length",
                            needed: 4,
                            remaining: blocks.len(),
                        })?;
                let len = i32::from_be_bytes(*len_bytes);
                let len = usize::try_from(len).map_err(|_| RecordError::InvalidLength {
                    field: "snappy block length",
                    length: len.into(),
                })?;
                let (block, rest) = rest.split_at_checked(len).ok_or(RecordError::Truncated {
                    field: "snappy block",
                    needed: len,
                    remaining: rest.len(),
                })?;
                snappy_block(block, &mut out, limit)?;
                blocks = rest;
            }
        }
        None => snappy_block(input, &mut out, limit)?,
    }
    Ok(Bytes::from(out))
}

/// Appends one raw snappy block, checking its declared size against the room
/// left under `limit` before allocating for it.
fn snappy_block(block: &[u8], out: &mut Vec<u8>, limit: usize) -> Result<(), RecordError> {
    let codec = Compression::Snappy;
    let len = snap::raw::decompress_len(block).map_err(|e| codec_error(codec, e))?;
    let start = out.len();
    if len > limit.saturating_sub(start) {
        return Err(RecordError::DecompressedTooLarge { limit });
    }
    out.resize(start + len, 0);
    let dst = out.get_mut(start..).unwrap_or_default();
    let written = snap::raw::Decoder::new()
        .decompress(block, dst)
        .map_err(|e| codec_error(codec, e))?;
    out.truncate(start + written);
    Ok(())
}
