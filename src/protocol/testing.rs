//! Random message values for property tests (test builds only).
//!
//! The generated `Random` impls fill exactly the fields a version carries,
//! so `decode(encode(m)) == m` must hold for every value they produce.

use super::wire::Uuid;
use bytes::Bytes;

/// Small deterministic generator (xorshift64*), seeded per test case so a
/// failing case can be replayed from its seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Mostly small numbers, sometimes the extremes: where encoders go wrong.
    fn int(&mut self, min: i64, max: i64) -> i64 {
        match self.below(8) {
            0 => min,
            1 => max,
            2 => 0,
            3 => -1i64.max(min),
            4 | 5 => self.below(300) as i64,
            _ => self.next_u64() as i64,
        }
    }

    pub fn bool(&mut self) -> bool {
        self.next_u64() & 1 == 1
    }
    pub fn i8(&mut self) -> i8 {
        self.int(i8::MIN.into(), i8::MAX.into()) as i8
    }
    pub fn i16(&mut self) -> i16 {
        self.int(i16::MIN.into(), i16::MAX.into()) as i16
    }
    pub fn u16(&mut self) -> u16 {
        self.int(0, u16::MAX.into()) as u16
    }
    pub fn i32(&mut self) -> i32 {
        self.int(i32::MIN.into(), i32::MAX.into()) as i32
    }
    pub fn i64(&mut self) -> i64 {
        self.int(i64::MIN, i64::MAX)
    }
    pub fn f64(&mut self) -> f64 {
        // Finite values only: NaN never equals itself.
        (self.next_u64() % 1_000_000) as f64 / 7.0 - 50_000.0
    }
    pub fn uuid(&mut self) -> Uuid {
        let mut id = [0u8; 16];
        id[..8].copy_from_slice(&self.next_u64().to_be_bytes());
        id[8..].copy_from_slice(&self.next_u64().to_be_bytes());
        Uuid(id)
    }
    pub fn string(&mut self) -> String {
        const ALPHABET: &[&str] = &["a", "b", "topic", "-", "_", ".", "é", "日", "0", "Z"];
        let len = self.below(6);
        (0..len)
            .map(|_| ALPHABET[self.below(ALPHABET.len() as u64) as usize])
            .collect()
    }
    pub fn bytes(&mut self) -> Bytes {
        let len = self.below(40) as usize;
        Bytes::from((0..len).map(|_| self.next_u64() as u8).collect::<Vec<u8>>())
    }
}

/// Implemented by every generated struct in test builds.
pub trait Random {
    fn random(rng: &mut Rng, version: i16) -> Self;
}

/// Sometimes null where the version allows it.
pub fn maybe<T>(rng: &mut Rng, null_ok: bool, value: impl FnOnce(&mut Rng) -> T) -> Option<T> {
    if null_ok && rng.below(4) == 0 {
        None
    } else {
        Some(value(rng))
    }
}

/// Zero to three elements.
pub fn vec_of<T>(rng: &mut Rng, mut element: impl FnMut(&mut Rng) -> T) -> Vec<T> {
    let len = rng.below(4);
    (0..len).map(|_| element(rng)).collect()
}

/// Encodes a random `M` at every version, checks the computed size, decodes
/// it back and compares. Returns the number of versions checked.
pub fn round_trip<M>(seed: u64) -> Result<usize, String>
where
    M: super::wire::Message + Random + PartialEq + std::fmt::Debug,
{
    let (min, max) = M::VERSIONS;
    for version in min..=max {
        let mut rng = Rng::new(seed ^ (version as u64) << 48);
        let original = M::random(&mut rng, version);
        let encoded = original
            .to_bytes(version)
            .map_err(|e| format!("{} v{version} seed {seed}: encode failed: {e}", M::NAME))?;
        let size = original.encoded_size(version);
        if encoded.len() != size {
            return Err(format!(
                "{} v{version} seed {seed}: size {size} but wrote {}",
                M::NAME,
                encoded.len()
            ));
        }
        let mut frame = encoded.freeze();
        let decoded = M::decode(&mut frame, version)
            .map_err(|e| format!("{} v{version} seed {seed}: decode failed: {e}", M::NAME))?;
        if !frame.is_empty() {
            return Err(format!(
                "{} v{version} seed {seed}: {} bytes left over",
                M::NAME,
                frame.len()
            ));
        }
        if decoded != original {
            return Err(format!(
                "{} v{version} seed {seed}: {original:?} became {decoded:?}",
                M::NAME
            ));
        }
    }
    Ok((max - min + 1) as usize)
}
