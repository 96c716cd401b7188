//! Big-endian bit stream (most significant bit first), as Gorilla and
//! Prometheus's `bstream` lay out their bits.

/// Appends bits to a byte vector; the last byte is padded with one bits.
pub struct BitWriter<'a> {
    out: &'a mut Vec<u8>,
    /// Pending bits, left-aligned: the top `fill` bits are data.
    acc: u64,
    /// Always < 64.
    fill: u32,
}

impl<'a> BitWriter<'a> {
    pub fn new(out: &'a mut Vec<u8>) -> Self {
        BitWriter {
            out,
            acc: 0,
            fill: 0,
        }
    }

    /// Write the low `n` bits of `v` (`n` in `0..=64`; higher bits of `v` are ignored).
    #[inline]
    pub fn write(&mut self, v: u64, n: u32) {
        if n == 0 {
            return;
        }
        let v = if n == 64 { v } else { v & ((1u64 << n) - 1) };
        let free = 64 - self.fill;
        if n < free {
            self.acc |= v << (free - n);
            self.fill += n;
        } else {
            let rest = n - free; // 0..=63
            self.acc |= v >> rest;
            self.out.extend_from_slice(&self.acc.to_be_bytes());
            self.acc = if rest == 0 { 0 } else { v << (64 - rest) };
            self.fill = rest;
        }
    }

    #[inline]
    pub fn bit(&mut self, b: bool) {
        self.write(u64::from(b), 1);
    }

    /// Flush the pending bits, padded to a whole byte with one bits.
    ///
    /// Ones, not zeros: in a Gorilla stream zero bits decode as "same delta,
    /// same value", so zero padding would let a header claiming one sample too
    /// many decode it from the padding. No sample's bits fit into seven ones.
    pub fn finish(mut self) {
        let pad = (8 - self.fill % 8) % 8;
        self.write((1u64 << pad) - 1, pad);
        let bytes = self.fill.div_ceil(8) as usize;
        self.out.extend_from_slice(&self.acc.to_be_bytes()[..bytes]);
    }
}

/// Reads bits written by [`BitWriter`]; never reads past `data`.
pub struct BitReader<'a> {
    data: &'a [u8],
    /// Position in bits.
    pos: usize,
}

impl<'a> BitReader<'a> {
    pub fn new(data: &'a [u8]) -> Self {
        BitReader { data, pos: 0 }
    }

    /// Bits not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len() * 8 - self.pos
    }

    /// Read `n` bits (`n` in `0..=64`) as the low bits of the result; `None`
    /// if fewer than `n` bits are left (the position is then unchanged).
    #[inline]
    pub fn read(&mut self, n: u32) -> Option<u64> {
        if n == 0 {
            return Some(0);
        }
        if (n as usize) > self.remaining() {
            return None;
        }
        let byte = self.pos / 8;
        let shift = (self.pos % 8) as u32;
        let window = match self.data.get(byte..byte + 16) {
            Some(w) => u128::from_be_bytes(w.try_into().expect("16 bytes")),
            None => {
                let mut w = [0u8; 16];
                let tail = &self.data[byte..];
                w[..tail.len()].copy_from_slice(tail);
                u128::from_be_bytes(w)
            }
        };
        self.pos += n as usize;
        Some(((window << shift) >> (128 - n)) as u64)
    }

    #[inline]
    pub fn bit(&mut self) -> Option<bool> {
        self.read(1).map(|b| b == 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_mixed_widths() {
        let items: Vec<(u64, u32)> = (0..2000u64)
            .map(|i| {
                let n = (i * 7 % 65) as u32;
                let v = i.wrapping_mul(0x9E37_79B9_7F4A_7C15);
                (if n == 64 { v } else { v & ((1u64 << n) - 1) }, n)
            })
            .collect();
        let mut out = Vec::new();
        let mut w = BitWriter::new(&mut out);
        for &(v, n) in &items {
            w.write(v, n);
        }
        w.finish();
        let total: usize = items.iter().map(|&(_, n)| n as usize).sum();
        assert_eq!(out.len(), total.div_ceil(8));
        let mut r = BitReader::new(&out);
        for &(v, n) in &items {
            assert_eq!(r.read(n), Some(v));
        }
        assert!(r.remaining() < 8);
        assert_eq!(r.read(8), None);
    }
}
