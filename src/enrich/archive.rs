//! Just enough of zip (wheels, `.npz`) and tar.gz (sdists) to take named members out of the
//! packages the models ship in. Deflate is `miniz_oxide`; the container formats are a few
//! fixed-layout headers, not worth a dependency each.

use crate::util::error::{bail_invalid, invalid, Context, Result};

fn u16_at(b: &[u8], at: usize) -> Result<u16> {
    b.get(at..at + 2).map(|s| u16::from_le_bytes([s[0], s[1]])).ok_or_else(|| invalid!("truncated zip"))
}

fn u32_at(b: &[u8], at: usize) -> Result<u32> {
    b.get(at..at + 4).map(|s| u32::from_le_bytes([s[0], s[1], s[2], s[3]])).ok_or_else(|| invalid!("truncated zip"))
}

fn u64_at(b: &[u8], at: usize) -> Result<u64> {
    b.get(at..at + 8)
        .map(|s| u64::from_le_bytes(s.try_into().expect("8 bytes")))
        .ok_or_else(|| invalid!("truncated zip"))
}

/// One member of a zip archive, located through the central directory.
pub struct ZipEntry {
    pub name: String,
    method: u16,
    compressed: u64,
    size: u64,
    local_header: u64,
}

/// A zip archive held in memory.
pub struct Zip<'a> {
    bytes: &'a [u8],
    pub entries: Vec<ZipEntry>,
}

impl<'a> Zip<'a> {
    pub fn new(bytes: &'a [u8]) -> Result<Self> {
        const EOCD: u32 = 0x0605_4b50;
        // The end-of-central-directory record is the last 22 bytes plus a comment of ≤ 64 KiB.
        let lowest = bytes.len().saturating_sub(22 + 65_535);
        let eocd = (lowest..=bytes.len().saturating_sub(22))
            .rev()
            .find(|&i| u32_at(bytes, i).ok() == Some(EOCD))
            .ok_or_else(|| invalid!("not a zip archive (no end of central directory)"))?;
        let count = u16_at(bytes, eocd + 10)? as usize;
        let mut at = u32_at(bytes, eocd + 16)? as usize;
        let mut entries = Vec::with_capacity(count);
        for _ in 0..count {
            if u32_at(bytes, at)? != 0x0201_4b50 {
                bail_invalid!("corrupt zip central directory");
            }
            let method = u16_at(bytes, at + 10)?;
            let mut compressed = u32_at(bytes, at + 20)? as u64;
            let mut size = u32_at(bytes, at + 24)? as u64;
            let name_len = u16_at(bytes, at + 28)? as usize;
            let extra_len = u16_at(bytes, at + 30)? as usize;
            let comment_len = u16_at(bytes, at + 32)? as usize;
            let mut local_header = u32_at(bytes, at + 42)? as u64;
            let name = bytes.get(at + 46..at + 46 + name_len).ok_or_else(|| invalid!("truncated zip"))?;
            let name = String::from_utf8_lossy(name).into_owned();
            // Zip64: the 32-bit fields that overflowed are in extra field 0x0001, in this order.
            let extra = bytes.get(at + 46 + name_len..at + 46 + name_len + extra_len).unwrap_or(&[]);
            let mut e = 0;
            while e + 4 <= extra.len() {
                let (id, len) = (u16_at(extra, e)?, u16_at(extra, e + 2)? as usize);
                if id == 1 {
                    let mut f = e + 4;
                    for field in [&mut size, &mut compressed, &mut local_header] {
                        if *field == 0xFFFF_FFFF {
                            *field = u64_at(extra, f)?;
                            f += 8;
                        }
                    }
                }
                e += 4 + len;
            }
            entries.push(ZipEntry { name, method, compressed, size, local_header });
            at += 46 + name_len + extra_len + comment_len;
        }
        Ok(Zip { bytes, entries })
    }

    /// The uncompressed bytes of the member called `name`.
    pub fn read(&self, name: &str) -> Result<Vec<u8>> {
        let entry = self.entries.iter().find(|e| e.name == name).ok_or_else(|| invalid!("no `{name}` in archive"))?;
        self.read_entry(entry)
    }

    pub fn read_entry(&self, entry: &ZipEntry) -> Result<Vec<u8>> {
        let at = entry.local_header as usize;
        if u32_at(self.bytes, at)? != 0x0403_4b50 {
            bail_invalid!("corrupt zip local header for `{}`", entry.name);
        }
        let start = at + 30 + u16_at(self.bytes, at + 26)? as usize + u16_at(self.bytes, at + 28)? as usize;
        let data = self
            .bytes
            .get(start..start + entry.compressed as usize)
            .ok_or_else(|| invalid!("truncated zip member `{}`", entry.name))?;
        let out = match entry.method {
            0 => data.to_vec(),
            8 => inflate(data, entry.size as usize).with_context(|| format!("inflating `{}`", entry.name))?,
            m => bail_invalid!(
                "zip member `{}` uses compression method {m}; only stored and deflate are read",
                entry.name
            ),
        };
        if out.len() as u64 != entry.size {
            bail_invalid!("zip member `{}`: {} bytes, expected {}", entry.name, out.len(), entry.size);
        }
        Ok(out)
    }
}

fn inflate(raw_deflate: &[u8], limit: usize) -> Result<Vec<u8>> {
    miniz_oxide::inflate::decompress_to_vec_with_limit(raw_deflate, limit.max(1))
        .map_err(|e| invalid!("deflate stream is corrupt: {:?}", e.status))
}

/// Members of a `.tar.gz` whose paths end with one of `suffixes`, as (path, bytes).
pub fn tar_gz_members(gz: &[u8], suffixes: &[&str]) -> Result<Vec<(String, Vec<u8>)>> {
    if gz.len() < 18 || gz[0] != 0x1f || gz[1] != 0x8b || gz[2] != 8 {
        bail_invalid!("not a gzip file");
    }
    let flags = gz[3];
    let mut at = 10;
    if flags & 4 != 0 {
        at += 2 + u16_at(gz, at)? as usize;
    }
    for bit in [8u8, 16] {
        if flags & bit != 0 {
            at +=
                gz.get(at..).and_then(|s| s.iter().position(|&b| b == 0)).ok_or_else(|| invalid!("bad gzip header"))?
                    + 1;
        }
    }
    if flags & 2 != 0 {
        at += 2;
    }
    let size_hint = u32_at(gz, gz.len() - 4)? as usize; // ISIZE: size mod 2^32, exact below 4 GiB
    let tar = inflate(gz.get(at..).ok_or_else(|| invalid!("bad gzip header"))?, size_hint.max(1 << 20) * 2)?;
    let mut out = Vec::new();
    let mut at = 0;
    while at + 512 <= tar.len() {
        let header = &tar[at..at + 512];
        if header.iter().all(|&b| b == 0) {
            break;
        }
        let field = |from: usize, len: usize| {
            let f = &header[from..from + len];
            String::from_utf8_lossy(&f[..f.iter().position(|&b| b == 0).unwrap_or(len)]).into_owned()
        };
        let prefix = field(345, 155);
        let name = if prefix.is_empty() { field(0, 100) } else { format!("{prefix}/{}", field(0, 100)) };
        let size = u64::from_str_radix(field(124, 12).trim(), 8).context("bad tar size field")? as usize;
        let body = at + 512;
        let regular_file = header[156] == b'0' || header[156] == 0;
        if regular_file && suffixes.iter().any(|s| name.ends_with(s)) {
            let data = tar.get(body..body + size).ok_or_else(|| invalid!("truncated tar member {name}"))?;
            out.push((name, data.to_vec()));
        }
        at = body + size.div_ceil(512) * 512;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored (uncompressed) zip with one member, built by hand.
    fn stored_zip(name: &str, data: &[u8]) -> Vec<u8> {
        let mut z = Vec::new();
        z.extend(0x0403_4b50u32.to_le_bytes());
        z.extend([20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(0u32.to_le_bytes()); // crc (not checked)
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z.extend(name.as_bytes());
        z.extend(data);
        let cd = z.len();
        z.extend(0x0201_4b50u32.to_le_bytes());
        z.extend([20, 0, 20, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        z.extend(0u32.to_le_bytes());
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((data.len() as u32).to_le_bytes());
        z.extend((name.len() as u16).to_le_bytes());
        z.extend([0u8; 12]);
        z.extend(0u32.to_le_bytes());
        z.extend(name.as_bytes());
        let cd_len = z.len() - cd;
        z.extend(0x0605_4b50u32.to_le_bytes());
        z.extend([0, 0, 0, 0, 1, 0, 1, 0]);
        z.extend((cd_len as u32).to_le_bytes());
        z.extend((cd as u32).to_le_bytes());
        z.extend(0u16.to_le_bytes());
        z
    }

    #[test]
    fn reads_a_stored_member() {
        let z = stored_zip("a/b.txt", b"hello");
        let zip = Zip::new(&z).unwrap();
        assert_eq!(zip.read("a/b.txt").unwrap(), b"hello");
        assert!(zip.read("missing").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(Zip::new(b"definitely not a zip").is_err());
        assert!(tar_gz_members(b"\x1f\x8b\x08garbage-garbage-garbage", &["x"]).is_err());
        let mut z = stored_zip("m", b"data");
        z.truncate(20);
        assert!(Zip::new(&z).is_err());
    }
}
