//! Sixteen bytes at a time: the one place the byte scans of the replay path (string ends in the
//! decoder, whitespace and controls in the cleaner, digits and `@` for the masker) load their
//! blocks. SSE2 is part of the x86-64 baseline, so no detection at run time is needed; other
//! targets scan from the start with their own portable loops.

#[cfg(target_arch = "x86_64")]
pub use std::arch::x86_64::__m128i as Block;

/// The whole sixteen-byte blocks of `bytes` with their offsets. The bytes after the last one
/// begin at [`after_blocks`].
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn blocks(bytes: &[u8]) -> impl Iterator<Item = (usize, Block)> + '_ {
    bytes.chunks_exact(16).enumerate().map(|(i, block)| {
        // SAFETY: an unaligned load of exactly the sixteen bytes of `block`; SSE2 is baseline.
        (16 * i, unsafe { std::arch::x86_64::_mm_loadu_si128(block.as_ptr().cast()) })
    })
}

/// Where the bytes [`blocks`] does not cover begin, in a slice of `len` bytes (0 where there
/// are no blocks).
#[inline]
pub fn after_blocks(len: usize) -> usize {
    if cfg!(target_arch = "x86_64") {
        len - len % 16
    } else {
        0
    }
}

/// A bit per byte of `v`, set where `v`'s byte lies in `lo..=hi` (unsigned).
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn in_range(v: Block, lo: u8, hi: u8) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: register arithmetic only; SSE2 is baseline on x86-64.
    unsafe {
        let shifted = _mm_sub_epi8(v, _mm_set1_epi8(lo as i8));
        // unsigned x ≤ d  ⇔  min(x, d) == x
        let inside = _mm_cmpeq_epi8(_mm_min_epu8(shifted, _mm_set1_epi8((hi - lo) as i8)), shifted);
        _mm_movemask_epi8(inside) as u32
    }
}

/// A bit per byte of `v`, set where it equals `byte`.
#[cfg(target_arch = "x86_64")]
#[inline]
pub fn equal(v: Block, byte: u8) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: register arithmetic only; SSE2 is baseline on x86-64.
    unsafe { _mm_movemask_epi8(_mm_cmpeq_epi8(v, _mm_set1_epi8(byte as i8))) as u32 }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod tests {
    use super::*;

    #[test]
    fn masks_match_a_byte_by_byte_check() {
        let bytes: Vec<u8> = (0..=255u8).chain(0..=255u8).collect();
        for (lo, hi) in [(0, 0x1f), (0, 0x20), (b'0', b'9'), (0xE1, 0xE3), (0, 255), (200, 255)] {
            for (at, v) in blocks(&bytes) {
                let expect = (0..16).filter(|i| (lo..=hi).contains(&bytes[at + i])).fold(0, |m, i| m | 1 << i);
                assert_eq!(in_range(v, lo, hi), expect, "{lo}..={hi} at {at}");
                let b = bytes[at + 3];
                let expect = (0..16).filter(|i| bytes[at + i] == b).fold(0, |m, i| m | 1 << i);
                assert_eq!(equal(v, b), expect);
            }
        }
        assert_eq!((after_blocks(40), after_blocks(15), blocks(&bytes[..40]).count()), (32, 0, 2));
    }
}
