//! NumPy `.npy` arrays (the members of an `.npz`): little-endian, C order, the dtypes the
//! encoder's weights use.

use crate::util::error::{bail_invalid, invalid, Result};

/// An array's shape and its values, widened to `f32` (weights) or kept as bytes (quantised
/// tables).
pub struct Array {
    pub shape: Vec<usize>,
    pub data: Data,
}

pub enum Data {
    F32(Vec<f32>),
    U8(Vec<u8>),
}

impl Array {
    pub fn parse(bytes: &[u8]) -> Result<Array> {
        if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
            bail_invalid!("not a .npy array");
        }
        let (header_len, start) = match bytes[6] {
            1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
            2 | 3 => (u32::from_le_bytes(bytes[8..12].try_into()?) as usize, 12),
            v => bail_invalid!(".npy version {v} is not supported"),
        };
        let header =
            std::str::from_utf8(bytes.get(start..start + header_len).ok_or_else(|| invalid!("truncated .npy"))?)?;
        let field = |key: &str| -> Result<&str> {
            let at = header.find(&format!("'{key}'")).ok_or_else(|| invalid!(".npy header lacks {key}"))?;
            Ok(header[at + key.len() + 2..].trim_start_matches([':', ' ']))
        };
        let descr = field("descr")?;
        let descr = descr.trim_start_matches('\'');
        let descr = &descr[..descr.find('\'').ok_or_else(|| invalid!("bad descr"))?];
        if field("fortran_order")?.starts_with("True") {
            bail_invalid!("Fortran-ordered arrays are not supported");
        }
        let shape_text = field("shape")?;
        let shape_text = &shape_text[1..shape_text.find(')').ok_or_else(|| invalid!("bad shape"))?];
        let shape: Vec<usize> =
            shape_text.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::parse).collect::<Result<_, _>>()?;
        let n: usize = shape.iter().product();
        let body = &bytes[start + header_len..];
        let need = |width: usize| -> Result<&[u8]> {
            body.get(..n * width).ok_or_else(|| invalid!(".npy body holds fewer than {n} values"))
        };
        let data = match descr {
            "<f4" => Data::F32(need(4)?.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
            "<f8" => {
                Data::F32(need(8)?.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect())
            }
            "|u1" => Data::U8(need(1)?.to_vec()),
            "|i1" => Data::F32(need(1)?.iter().map(|&b| b as i8 as f32).collect()),
            other => bail_invalid!("dtype {other} is not supported"),
        };
        Ok(Array { shape, data })
    }

    pub fn into_f32(self) -> Result<Vec<f32>> {
        match self.data {
            Data::F32(v) => Ok(v),
            Data::U8(_) => bail_invalid!("expected a float array, found uint8"),
        }
    }

    pub fn into_u8(self) -> Result<Vec<u8>> {
        match self.data {
            Data::U8(v) => Ok(v),
            Data::F32(_) => bail_invalid!("expected a uint8 array"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn npy(descr: &str, shape: &str, body: &[u8]) -> Vec<u8> {
        let mut header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
        while (10 + header.len() + 1) % 64 != 0 {
            header.push(' ');
        }
        header.push('\n');
        let mut out = b"\x93NUMPY\x01\x00".to_vec();
        out.extend((header.len() as u16).to_le_bytes());
        out.extend(header.as_bytes());
        out.extend(body);
        out
    }

    #[test]
    fn parses_floats_bytes_and_scalars() {
        let body: Vec<u8> = [1.5f32, -2.0, 3.25, 0.0, 1.0, 2.0].iter().flat_map(|v| v.to_le_bytes()).collect();
        let a = Array::parse(&npy("<f4", "(2, 3)", &body)).unwrap();
        assert_eq!(a.shape, vec![2, 3]);
        assert_eq!(a.into_f32().unwrap()[..3], [1.5, -2.0, 3.25]);
        let s = Array::parse(&npy("<f8", "()", &1e-12f64.to_le_bytes())).unwrap();
        assert!(s.shape.is_empty());
        assert_eq!(s.into_f32().unwrap(), vec![1e-12f32]);
        let u = Array::parse(&npy("|u1", "(4,)", &[1, 2, 3, 255])).unwrap();
        assert_eq!(u.into_u8().unwrap(), vec![1, 2, 3, 255]);
    }

    #[test]
    fn short_or_foreign_input_is_an_error() {
        assert!(Array::parse(b"nope").is_err());
        assert!(Array::parse(&npy("<f4", "(10,)", &[0; 8])).is_err());
        assert!(Array::parse(&npy("<c16", "(1,)", &[0; 16])).is_err());
    }
}
