//! Masking of personal data: phone numbers, Chinese resident ID numbers, bank cards, e-mails.
//!
//! Digit runs are found once and classified by shape (and the Luhn check for cards) instead of
//! one regex per kind: the `regex` crate has no look-around, and Chinese text gives no word
//! boundaries, so per-kind patterns would match inside longer numbers.

use crate::config::PiiConfig;
use regex::Regex;

pub const PHONE: &str = "<PHONE>";
pub const ID_NUMBER: &str = "<ID>";
pub const BANK_CARD: &str = "<CARD>";
pub const EMAIL: &str = "<EMAIL>";

pub struct PiiMasker {
    config: PiiConfig,
    email: Regex,
    digits: Regex,
}

/// Whether `bytes` hold an ASCII digit, and whether an `@`: the two things any mask needs, in
/// one pass, sixteen bytes at a time on x86-64 (`crate::bytescan`). Most messages have
/// neither and are returned as they are.
fn digit_and_at(bytes: &[u8]) -> (bool, bool) {
    let (mut digit, mut at_sign) = (false, false);
    #[cfg(target_arch = "x86_64")]
    for (_, v) in crate::bytescan::blocks(bytes) {
        digit |= crate::bytescan::in_range(v, b'0', b'9') != 0;
        at_sign |= crate::bytescan::equal(v, b'@') != 0;
        if digit && at_sign {
            return (true, true);
        }
    }
    let at = crate::bytescan::after_blocks(bytes.len());
    for b in &bytes[at..] {
        digit |= b.is_ascii_digit();
        at_sign |= *b == b'@';
    }
    (digit, at_sign)
}

impl PiiMasker {
    pub fn new(config: PiiConfig) -> Self {
        PiiMasker {
            config,
            email: Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").unwrap(),
            // A run of digits, optionally with +86, spaces or dashes inside, ending in a digit or X.
            digits: Regex::new(r"(?:\+?86[ \-]?)?\d(?:[\d \-]*[\dXx])?").unwrap(),
        }
    }

    /// Returns the masked text, borrowing when nothing needed masking.
    pub fn mask<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        let (has_digit, has_at) = digit_and_at(text.as_bytes());
        if !has_digit && !has_at {
            return std::borrow::Cow::Borrowed(text);
        }
        let mut out = std::borrow::Cow::Borrowed(text);
        if has_at && self.config.email {
            if let std::borrow::Cow::Owned(s) = self.email.replace_all(&out, EMAIL) {
                out = std::borrow::Cow::Owned(s);
            }
        }
        if has_digit {
            let replaced = self.digits.replace_all(&out, |caps: &regex::Captures| {
                let run = &caps[0];
                self.classify(run).map(str::to_owned).unwrap_or_else(|| run.to_owned())
            });
            if let std::borrow::Cow::Owned(s) = replaced {
                out = std::borrow::Cow::Owned(s);
            }
        }
        out
    }

    fn classify(&self, run: &str) -> Option<&'static str> {
        let plus86 = run.starts_with("+86") || run.starts_with("86 ") || run.starts_with("86-");
        let core: String = run.chars().filter(|c| c.is_ascii_digit() || *c == 'X' || *c == 'x').collect();
        // A leading +86 / 86 country code is not part of the number's shape.
        let core = if plus86 || (core.len() == 13 && core.starts_with("86")) { &core[2..] } else { &core[..] };
        let all_digits = core.bytes().all(|b| b.is_ascii_digit());
        let n = core.len();
        if self.config.phone
            && all_digits
            && n == 11
            && core.starts_with('1')
            && matches!(core.as_bytes()[1], b'3'..=b'9')
        {
            return Some(PHONE);
        }
        // Landline with area code: 0 + 2–3 digit area + 7–8 digits.
        if self.config.phone && all_digits && (10..=12).contains(&n) && core.starts_with('0') && run.contains('-') {
            return Some(PHONE);
        }
        if self.config.id_number
            && n == 18
            && core[..17].bytes().all(|b| b.is_ascii_digit())
            && is_id_date(&core[6..14])
        {
            return Some(ID_NUMBER);
        }
        if self.config.bank_card && all_digits && (13..=19).contains(&n) && luhn(core) {
            return Some(BANK_CARD);
        }
        None
    }
}

/// The birth date inside an 18-digit ID number: YYYYMMDD between 1900 and 2099.
fn is_id_date(d: &str) -> bool {
    let year: u32 = d[..4].parse().unwrap_or(0);
    let month: u32 = d[4..6].parse().unwrap_or(0);
    let day: u32 = d[6..8].parse().unwrap_or(0);
    (1900..2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

fn luhn(digits: &str) -> bool {
    let mut sum = 0;
    for (i, b) in digits.bytes().rev().enumerate() {
        let mut d = (b - b'0') as u32;
        if i % 2 == 1 {
            d *= 2;
            if d > 9 {
                d -= 9;
            }
        }
        sum += d;
    }
    sum % 10 == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digits_and_at_signs_are_seen_anywhere() {
        for len in 0..50 {
            for place in 0..len {
                for (byte, expect) in [(b'0', (true, false)), (b'9', (true, false)), (b'@', (false, true))] {
                    let mut bytes: Vec<u8> =
                        (0..len).map(|i| [b'a', b'/', b':', 0xe4, 0xbd, b'?', b'A'][i % 7]).collect();
                    assert_eq!(digit_and_at(&bytes), (false, false), "{len}");
                    bytes[place] = byte;
                    assert_eq!(digit_and_at(&bytes), expect, "{byte} at {place} of {len}");
                    bytes[len - 1 - place] = b'@';
                    assert!(digit_and_at(&bytes).1);
                }
            }
        }
    }

    fn masker() -> PiiMasker {
        PiiMasker::new(PiiConfig { phone: true, id_number: true, bank_card: true, email: true })
    }

    #[test]
    fn masks_every_kind_inside_chinese_text() {
        let m = masker();
        assert_eq!(m.mask("我的手机13812345678打不通"), "我的手机<PHONE>打不通");
        assert_eq!(m.mask("电话 +86 138-1234-5678"), "电话 <PHONE>");
        assert_eq!(m.mask("座机010-88886666"), "座机<PHONE>");
        assert_eq!(m.mask("身份证11010519491231002X请核实"), "身份证<ID>请核实");
        assert_eq!(m.mask("卡号6222021234567890128扣款两次"), "卡号<CARD>扣款两次");
        assert_eq!(m.mask("mail me: li.lei@example.com."), "mail me: <EMAIL>.");
    }

    #[test]
    fn leaves_ordinary_numbers_alone() {
        let m = masker();
        for text in ["订单金额 299 元", "版本12.3.1", "等了3天", "order 1234567890123 (bad luhn)"] {
            assert_eq!(m.mask(text), text);
        }
        assert!(matches!(m.mask("没有数字"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn respects_switched_off_kinds() {
        let m = PiiMasker::new(PiiConfig { phone: false, id_number: true, bank_card: true, email: false });
        assert_eq!(m.mask("13812345678 a@b.cn"), "13812345678 a@b.cn");
    }
}
