//! How well the PII masker finds personal data written the way people write it: generated
//! variants of every kind (phones in ASCII, full-width and Chinese numerals, international and
//! US formats, ID numbers, cards, e-mails, IM ids, names and addresses after their cue words),
//! each put into a real review, and how many clean reviews the masker changes
//! (`cargo bench --bench pii_recall`, docs/testing.md).

use crate::clean::pii::{self, PiiMasker};
use crate::util::SplitMix;
use std::collections::BTreeMap;

/// One generated piece of personal data: its kind (the token it must become) and the text a
/// message carries (a cue word first where the kind needs one), of which `secret` must vanish.
#[derive(Clone, Debug)]
pub struct Variant {
    pub token: &'static str,
    pub text: String,
    pub secret: String,
}

/// Recall per token and the share of clean texts changed.
#[derive(Debug)]
pub struct Report {
    /// Per token: (found, cases), and up to three misses as examples.
    pub per_kind: BTreeMap<&'static str, (usize, usize, Vec<String>)>,
    pub clean_texts: usize,
    pub clean_changed: usize,
    pub clean_changed_examples: Vec<(String, String)>,
}

impl Report {
    pub fn recall(&self, token: &str) -> f64 {
        self.per_kind.get(token).map_or(0.0, |(found, n, _)| *found as f64 / (*n).max(1) as f64)
    }

    pub fn changed_share(&self) -> f64 {
        self.clean_changed as f64 / self.clean_texts.max(1) as f64
    }
}

fn digits(rng: &mut SplitMix, n: usize) -> String {
    (0..n).map(|_| char::from(b'0' + rng.below(10) as u8)).collect()
}

/// A Chinese mobile number, 11 digits.
fn mobile(rng: &mut SplitMix) -> String {
    format!("1{}{}", *rng.pick(&["3", "5", "7", "8", "9"]), digits(rng, 9))
}

fn spell(number: &str, rng: &mut SplitMix) -> String {
    let full_width = rng.below(3) == 0;
    number
        .chars()
        .map(|c| {
            let Some(d) = c.to_digit(10).map(|d| d as usize) else { return c };
            if full_width {
                char::from_u32('０' as u32 + d as u32).unwrap_or(c)
            } else {
                let one = if rng.below(3) == 0 { '幺' } else { '一' };
                let two = if rng.below(4) == 0 { '两' } else { '二' };
                let zero = if rng.below(4) == 0 { '〇' } else { '零' };
                [zero, one, two, '三', '四', '五', '六', '七', '八', '九'][d]
            }
        })
        .collect()
}

fn group(number: &str, sizes: &[usize], sep: &str) -> String {
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes {
        out.push(&number[at..(at + n).min(number.len())]);
        at += n;
    }
    if at < number.len() {
        out.push(&number[at..]);
    }
    out.join(sep)
}

fn luhn_complete(body: &str) -> String {
    (0..10).map(|d| format!("{body}{d}")).find(|c| luhn_valid(c)).expect("one check digit fits")
}

use crate::clean::pii::luhn as luhn_valid;

const GIVEN: [&str; 12] = ["伟", "芳", "娜", "敏", "静", "磊", "小明", "建国", "丽华", "志强", "婷", "晓东"];
const SURNAMES: [&str; 14] = ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "欧阳", "马"];
const CITIES: [&str; 8] = [
    "北京市朝阳区",
    "上海市浦东新区",
    "广州市天河区",
    "深圳市南山区",
    "杭州市西湖区",
    "成都市武侯区",
    "浙江省宁波市鄞州区",
    "江苏省苏州市工业园区",
];
const ROADS: [&str; 8] =
    ["建国路", "世纪大道", "中山北路", "文三路", "科技园南区高新南七道", "人民街", "解放大道", "长江路"];

/// One variant of `kind` (0..9), drawn with `rng`.
pub fn variant(kind: usize, rng: &mut SplitMix) -> Variant {
    let v = |token, cue: String, secret: String| Variant { token, text: format!("{cue}{secret}"), secret };
    match kind {
        0 => {
            let n = mobile(rng);
            let shaped = match rng.below(4) {
                0 => n.clone(),
                1 => group(&n, &[3, 4], "-"),
                2 => group(&n, &[3, 4], " "),
                _ => format!("+86 {n}"),
            };
            v(pii::PHONE, rng.pick(&["手机", "电话：", "call me at ", "联系方式 ", ""]).to_string(), shaped)
        }
        1 => {
            let n = mobile(rng);
            let shaped = if rng.below(2) == 0 { n.clone() } else { group(&n, &[3, 4], " ") };
            v(pii::PHONE, rng.pick(&["手机号是", "打", "电话", "号码 "]).to_string(), spell(&shaped, rng))
        }
        2 => {
            let (a, b, c) = (100 + rng.below(900), 100 + rng.below(900), digits(rng, 4));
            let shaped = match rng.below(4) {
                0 => format!("({a}) {b}-{c}"),
                1 => format!("{a}-{b}-{c}"),
                2 => format!("+1 {a} {b} {c}"),
                _ => format!("+44 20 {} {}", digits(rng, 4), digits(rng, 4)),
            };
            v(pii::PHONE, rng.pick(&["call ", "phone: ", "电话", "tel "]).to_string(), shaped)
        }
        3 => {
            let date = format!("{}{:02}{:02}", 1950 + rng.below(60), 1 + rng.below(12), 1 + rng.below(28));
            let id = format!("{}{date}{}{}", digits(rng, 6), digits(rng, 3), *rng.pick(&["0", "5", "X", "x", "7"]));
            v(pii::ID_NUMBER, rng.pick(&["身份证", "身份证号：", "证件号 ", ""]).to_string(), id)
        }
        4 => {
            let (bin, rest) = (*rng.pick(&["6222", "6217", "4367", "6228"]), 11 + 3 * rng.below(2));
            let body = format!("{bin}{}", digits(rng, rest));
            let card = luhn_complete(&body);
            let shaped = if rng.below(3) == 0 { group(&card, &[4, 4, 4, 4], " ") } else { card };
            v(pii::BANK_CARD, rng.pick(&["卡号", "银行卡 ", "card "]).to_string(), shaped)
        }
        5 => {
            let user = format!("{}{}", *rng.pick(&["li.lei", "zhang_san", "wang", "kf"]), digits(rng, 3));
            let mail = format!("{user}@{}", *rng.pick(&["qq.com", "163.com", "example.com.cn", "gmail.com"]));
            v(pii::EMAIL, rng.pick(&["邮箱", "mail: ", "发到 "]).to_string(), mail)
        }
        6 => {
            let id = match rng.below(3) {
                0 => format!("wxid_{}", digits(rng, 8)),
                1 => format!("{}{}", *rng.pick(&["lilei_", "zs", "Wang", "kf-"]), digits(rng, 4)),
                _ => {
                    let n = 6 + rng.below(5);
                    digits(rng, n)
                }
            };
            let cue = *rng.pick(&["微信号 ", "微信：", "加我vx ", "QQ ", "qq号是", "支付宝账号 ", "wechat: "]);
            v(pii::IM_ID, cue.into(), id)
        }
        7 => {
            let name = format!("{}{}", *rng.pick(&SURNAMES), *rng.pick(&GIVEN));
            v(pii::NAME, rng.pick(&["收件人：", "收货人 ", "姓名", "联系人：", "名字是"]).to_string(), name)
        }
        _ => {
            let mut address = format!("{}{}{}号", *rng.pick(&CITIES), *rng.pick(&ROADS), 1 + rng.below(300));
            if rng.below(2) == 0 {
                address += &format!("{}栋{}室", 1 + rng.below(20), 101 + rng.below(2000));
            }
            v(pii::ADDRESS, rng.pick(&["地址：", "收货地址", "住址 ", "家住"]).to_string(), address)
        }
    }
}

/// Kinds [`variant`] draws from.
pub const KINDS: usize = 9;

/// `text` with `insert` put at a clause boundary (or the start or end), separated as a writer would.
fn insert(text: &str, insert: &str, rng: &mut SplitMix) -> String {
    let bounds: Vec<usize> =
        text.char_indices().filter(|(_, c)| "，。！？,.!?".contains(*c)).map(|(i, c)| i + c.len_utf8()).collect();
    match rng.below(bounds.len() + 2) {
        0 => format!("{insert}，{text}"),
        1 => format!("{text}，{insert}"),
        k => {
            let at = bounds[k - 2];
            format!("{}{insert}，{}", &text[..at], &text[at..])
        }
    }
}

/// Masks `per_kind` variants of every kind, each inside one of `texts` (drawn with `seed`),
/// and every text of `texts` as it is.
pub fn measure(masker: &PiiMasker, texts: &[String], per_kind: usize, seed: u64) -> Report {
    let mut rng = SplitMix::new(seed);
    let mut per: BTreeMap<&'static str, (usize, usize, Vec<String>)> = BTreeMap::new();
    for kind in 0..KINDS {
        for _ in 0..per_kind {
            let variant = variant(kind, &mut rng);
            let host = &texts[rng.below(texts.len())];
            let message = insert(host, &variant.text, &mut rng);
            let masked = masker.mask(&message);
            let found = !masked.contains(&variant.secret) && masked.contains(variant.token);
            let entry = per.entry(variant.token).or_default();
            entry.0 += found as usize;
            entry.1 += 1;
            if !found && entry.2.len() < 3 {
                entry.2.push(format!("{message} → {masked}"));
            }
        }
    }
    let mut report =
        Report { per_kind: per, clean_texts: texts.len(), clean_changed: 0, clean_changed_examples: vec![] };
    for text in texts {
        let masked = masker.mask(text);
        if masked != text.as_str() {
            report.clean_changed += 1;
            if report.clean_changed_examples.len() < 100 {
                report.clean_changed_examples.push((text.clone(), masked.into_owned()));
            }
        }
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_is_generated_with_its_token_and_cards_pass_luhn() {
        let mut rng = SplitMix::new(3);
        for kind in 0..KINDS {
            for _ in 0..20 {
                let v = variant(kind, &mut rng);
                assert!(v.text.ends_with(&v.secret), "{v:?}");
                if v.token == pii::BANK_CARD {
                    assert!(luhn_valid(&v.secret.replace(' ', "")), "{v:?}");
                }
            }
        }
        assert_eq!(insert("好。", "x", &mut SplitMix::new(1)).chars().filter(|c| *c == 'x').count(), 1);
    }
}
