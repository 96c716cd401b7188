//! LEB128 varints (as protobuf's and Go's `encoding/binary`), shared by the
//! chunk header and the write-log block.

/// Append `v` as an unsigned LEB128 varint (1 to 10 bytes).
#[inline]
pub fn put_uvarint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Append `v` zigzag-encoded (small magnitudes of either sign stay short).
#[inline]
pub fn put_varint(out: &mut Vec<u8>, v: i64) {
    put_uvarint(out, zigzag(v));
}

#[inline]
pub fn zigzag(v: i64) -> u64 {
    ((v << 1) ^ (v >> 63)) as u64
}

#[inline]
pub fn unzigzag(u: u64) -> i64 {
    (u >> 1) as i64 ^ -((u & 1) as i64)
}

/// Read an unsigned varint at `*pos`, advancing it.
///
/// `None` when the input ends inside the varint, or the varint is longer than
/// 10 bytes or overflows 64 bits (never more than 10 bytes are read).
#[inline]
pub fn get_uvarint(data: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v: u64 = 0;
    for i in 0..10 {
        let b = *data.get(*pos + i)?;
        if i == 9 && b > 1 {
            return None;
        }
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            *pos += i + 1;
            return Some(v);
        }
    }
    None
}

/// Read a zigzag varint at `*pos`, advancing it.
#[inline]
pub fn get_varint(data: &[u8], pos: &mut usize) -> Option<i64> {
    get_uvarint(data, pos).map(unzigzag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_extremes() {
        for v in [0, 1, -1, 63, -64, 64, i64::MAX, i64::MIN, 1 << 40] {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            let mut pos = 0;
            assert_eq!(get_varint(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
        }
        let mut out = Vec::new();
        put_uvarint(&mut out, u64::MAX);
        assert_eq!(out.len(), 10);
        let mut pos = 0;
        assert_eq!(get_uvarint(&out, &mut pos), Some(u64::MAX));
    }

    #[test]
    fn rejects_truncated_and_overlong() {
        let mut pos = 0;
        assert_eq!(get_uvarint(&[0x80, 0x80], &mut pos), None);
        assert_eq!(get_uvarint(&[0xff; 10], &mut pos), None);
        assert_eq!(
            get_uvarint(
                &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02],
                &mut pos
            ),
            None
        );
        assert_eq!(pos, 0);
    }
}
