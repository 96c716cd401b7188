//! Unleash-compatible feature-flag bucketing.
//!
//! A user is assigned to a gradual-rollout bucket (or a variant) by hashing
//! `"{group}:{user_id}"` with MurmurHash3 x86 32-bit and reducing the hash to
//! `1..=normalizer`. This is exactly Unleash's
//! `normalizedValue(id, groupId, normalizer, seed) =
//! murmur3_x86_32("{groupId}:{id}", seed) % normalizer + 1`:
//!
//! * [`rollout_bucket`]: normalizer 100, seed [`ROLLOUT_SEED`] (0) — the
//!   `flexibleRollout` / `gradualRollout*` strategies; a user is in a rollout
//!   of `p` percent iff `rollout_bucket(group, user) <= p`.
//! * [`variant_bucket`]: normalizer = the sum of the variant weights, seed
//!   [`VARIANT_SEED`] (86028157) — Unleash's variant selection.
//!
//! Strings are hashed as their UTF-8 bytes, as the Python, Go, Java and Rust
//! Unleash SDKs do. (unleash-client-node hashes `charCodeAt(i) & 0xff`, so
//! for non-ASCII ids it disagrees with every other SDK and with this module.)
//!
//! The bucket values are a contract with the flag configuration: changing the
//! hash, the seeds or the key format silently moves users between buckets.

use std::fmt;

/// Seed of the rollout (strategy) normalizer.
pub const ROLLOUT_SEED: u32 = 0;

/// Seed of Unleash's variant normalizer.
pub const VARIANT_SEED: u32 = 86_028_157;

/// Number of rollout buckets: [`rollout_bucket`] returns `1..=ROLLOUT_BUCKETS`.
pub const ROLLOUT_BUCKETS: u32 = 100;

/// Why a bucket cannot be computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BucketError {
    /// [`variant_bucket`] was asked for a total weight of 0 (no variant can
    /// be chosen; `% 0` is undefined).
    ZeroWeight,
}

impl fmt::Display for BucketError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BucketError::ZeroWeight => f.write_str("total_weight must be greater than 0"),
        }
    }
}

impl std::error::Error for BucketError {}

const C1: u32 = 0xcc9e_2d51;
const C2: u32 = 0x1b87_3593;

#[inline(always)]
fn mix_k(k: u32) -> u32 {
    k.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2)
}

/// MurmurHash3 x86 32-bit of `data` (Austin Appleby's `MurmurHash3_x86_32`).
///
/// Inputs longer than `u32::MAX` bytes mix in their length modulo 2³², as the
/// reference implementation does.
pub fn murmur3_x86_32(data: &[u8], seed: u32) -> u32 {
    let mut h = seed;
    let mut blocks = data.chunks_exact(4);
    for block in &mut blocks {
        let k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        h ^= mix_k(k);
        h = h.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let k = tail
            .iter()
            .rev()
            .fold(0u32, |k, &b| (k << 8) | u32::from(b));
        h ^= mix_k(k);
    }
    h ^= data.len() as u32; // truncation intended: the reference mixes `(uint32_t) len`
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    h
}

/// Append the hashed key `"{group}:{user_id}"` (UTF-8) to `out`.
#[inline]
pub fn push_key(out: &mut Vec<u8>, group: &str, user_id: &str) {
    out.reserve(group.len() + 1 + user_id.len());
    out.extend_from_slice(group.as_bytes());
    out.push(b':');
    out.extend_from_slice(user_id.as_bytes());
}

/// The key `"{group}:{user_id}"` as bytes.
pub fn key(group: &str, user_id: &str) -> Vec<u8> {
    let mut out = Vec::new();
    push_key(&mut out, group, user_id);
    out
}

/// `murmur3_x86_32(key, seed) % normalizer + 1`, for an already built key.
///
/// Returns [`BucketError::ZeroWeight`] if `normalizer` is 0.
#[inline]
pub fn normalized_value(key: &[u8], seed: u32, normalizer: u32) -> Result<u32, BucketError> {
    if normalizer == 0 {
        return Err(BucketError::ZeroWeight);
    }
    Ok(murmur3_x86_32(key, seed) % normalizer + 1)
}

/// Rollout bucket of an already built key (see [`push_key`]): `1..=100`.
#[inline]
pub fn rollout_bucket_of_key(key: &[u8]) -> u32 {
    murmur3_x86_32(key, ROLLOUT_SEED) % ROLLOUT_BUCKETS + 1
}

/// Rollout bucket of `user_id` in `group` (usually the flag name): `1..=100`.
///
/// Unleash's `normalizedValue(user_id, group, 100)`; the user is in a rollout
/// of `p` percent iff the bucket is `<= p`.
pub fn rollout_bucket(group: &str, user_id: &str) -> u32 {
    rollout_bucket_of_key(&key(group, user_id))
}

/// Variant bucket of `user_id` in `group`: `1..=total_weight`, with Unleash's
/// variant seed [`VARIANT_SEED`].
///
/// Returns [`BucketError::ZeroWeight`] if `total_weight` is 0.
pub fn variant_bucket(group: &str, user_id: &str, total_weight: u32) -> Result<u32, BucketError> {
    normalized_value(&key(group, user_id), VARIANT_SEED, total_weight)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// MurmurHash3 x86_32 known answers. The same table is checked against
    /// the pure-Python reference (tests/native/murmur_reference.py) and was
    /// cross-checked with the `mmh3` package.
    const VECTORS: &[(&[u8], u32, u32)] = &[
        (b"", 0, 0),
        (b"", 1, 0x514E_28B7),
        (b"", 0xffff_ffff, 0x81F1_6F39),
        (b"hello", 0, 0x248B_FA47),
        (
            b"The quick brown fox jumps over the lazy dog",
            0,
            0x2E4F_F723,
        ),
        // tail lengths 1, 2, 3 and a whole block
        (b"a", 0, 0x3C25_69B2),
        (b"ab", 0, 0x9BBF_D75F),
        (b"abc", 0, 0xB3DD_93FA),
        (b"abcd", 0, 0x43ED_676A),
        // seeded, with a block and a tail; non-ASCII UTF-8
        (b"hello", 86_028_157, 0xD7C0_41AD),
        (b"abcde", 0x9747_b28c, 0xE915_B832),
        ("é:🔥".as_bytes(), 0, 0x5EF6_AF1D),
    ];

    #[test]
    fn murmur_known_answers() {
        for &(data, seed, want) in VECTORS {
            let got = murmur3_x86_32(data, seed);
            println!(
                "PIN {:?} seed={seed:#x} = {got:#010X}",
                String::from_utf8_lossy(data)
            );
            assert_eq!(
                got,
                want,
                "{:?} seed {seed:#x}",
                String::from_utf8_lossy(data)
            );
        }
    }

    #[test]
    fn murmur_length_is_mixed_in() {
        // Zero bytes differ only by length.
        let hs: Vec<u32> = (0..9).map(|n| murmur3_x86_32(&vec![0u8; n], 0)).collect();
        for i in 0..hs.len() {
            for j in i + 1..hs.len() {
                assert_ne!(hs[i], hs[j], "len {i} vs {j}");
            }
        }
    }

    #[test]
    fn unleash_client_spec_vectors() {
        // unleash-client-node: normalizedValue('123', 'gr1') === 73,
        // normalizedValue('999', 'groupX') === 25.
        assert_eq!(rollout_bucket("gr1", "123"), 73);
        assert_eq!(rollout_bucket("groupX", "999"), 25);
    }

    #[test]
    fn key_format() {
        assert_eq!(key("gr1", "123"), b"gr1:123");
        assert_eq!(key("", ""), b":");
        assert_eq!(key("é", "🔥"), "é:🔥".as_bytes());
        assert_eq!(
            rollout_bucket("gr1", "123"),
            murmur3_x86_32(b"gr1:123", 0) % 100 + 1
        );
    }

    #[test]
    fn variant_bucket_uses_variant_seed() {
        let k = key("flag", "user-1");
        for w in [1, 2, 3, 100, 1000, u32::MAX] {
            let b = variant_bucket("flag", "user-1", w).unwrap();
            assert_eq!(b, murmur3_x86_32(&k, VARIANT_SEED) % w + 1);
            assert!((1..=w).contains(&b));
        }
        assert_eq!(variant_bucket("flag", "user-1", 1), Ok(1));
    }

    #[test]
    fn zero_weight_is_an_error() {
        assert_eq!(variant_bucket("g", "u", 0), Err(BucketError::ZeroWeight));
        assert_eq!(normalized_value(b"g:u", 0, 0), Err(BucketError::ZeroWeight));
        assert_eq!(
            BucketError::ZeroWeight.to_string(),
            "total_weight must be greater than 0"
        );
    }

    #[test]
    fn rollout_distribution_is_uniform() {
        let mut counts = [0u32; 100];
        for i in 0..10_000 {
            let b = rollout_bucket("flag", &format!("user-{i}"));
            assert!((1..=100).contains(&b));
            counts[(b - 1) as usize] += 1;
        }
        let in_25: u32 = counts[..25].iter().sum();
        assert!(
            (2350..=2650).contains(&in_25),
            "{in_25} of 10000 in a 25% rollout"
        );
    }
}
