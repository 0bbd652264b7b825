//! Masking of personal data: phone numbers (Chinese, international, US; in ASCII, full-width or
//! Chinese-numeral digits), Chinese resident ID numbers, bank cards, e-mails, instant-messaging
//! ids (WeChat, QQ, Alipay) after their cue words, and names and street addresses after theirs.
//!
//! Digit runs are found once and classified by shape (and the Luhn check for cards) instead of
//! one regex per kind: the `regex` crate has no look-around, and Chinese text gives no word
//! boundaries, so per-kind patterns would match inside longer numbers. Digits spelled as
//! Chinese numerals or full-width are turned into ASCII first and go through the same shapes.
//! Ids, names and addresses have no shape of their own; they are masked only after a cue word
//! (微信号, 收件人, 地址, …), and a name must start with a common surname.

use crate::config::PiiConfig;
use aho_corasick::AhoCorasick;
use regex::Regex;
use std::borrow::Cow;

pub const PHONE: &str = "<PHONE>";
pub const ID_NUMBER: &str = "<ID>";
pub const BANK_CARD: &str = "<CARD>";
pub const EMAIL: &str = "<EMAIL>";
pub const IM_ID: &str = "<IM_ID>";
pub const NAME: &str = "<NAME>";
pub const ADDRESS: &str = "<ADDRESS>";

/// The digit characters people write besides ASCII: Chinese numerals (幺 and 两 as read aloud)
/// and full-width digits.
const SPELLED_DIGITS: &str = "零〇一二三四五六七八九幺两０１２３４５６７８９";

/// Single-character surnames covering most of the population, and the common compound ones.
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程\
苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const COMPOUND_SURNAMES: [&str; 6] = ["欧阳", "司马", "诸葛", "上官", "东方", "慕容"];

/// A street address ends at one of these (the last one in the text after the cue).
const ADDRESS_ENDS: &str = "号室楼栋幢层弄村组户院巷路街道区县镇乡市座园苑里";
/// Words of places: an address names at least two, or one and a number.
const ADDRESS_PLACES: &str = "省市区县镇乡村路街巷弄号楼栋幢室";

pub struct PiiMasker {
    config: PiiConfig,
    email: Regex,
    digits: Regex,
    spelled: Regex,
    foreign_phone: Regex,
    im_id: Regex,
    wxid: Regex,
    name: Regex,
    address: Regex,
    cues: Cues,
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

const IM_CUES: &str = r"(?i:微信号?|weixin|wechat|vx|v信|wxid|qq号?|支付宝|alipay)";
const NAME_CUES: &str = r"(?:收件人|收货人|联系人|寄件人|姓名|名字(?:是|叫)|(?i:my name is|name:))";
const ADDRESS_CUES: &str = r"(?:收货地址|详细地址|家庭住址|地址|住址|家住)";

/// Which of the cue-led kinds a text may hold.
#[derive(Default, PartialEq, Eq)]
struct Cued {
    im: bool,
    name: bool,
    address: bool,
    /// Seven or more digits in a row written as Chinese numerals or full-width.
    spelled: bool,
}

/// Marks the kind a cue word cues.
type Mark = fn(&mut Cued);

/// Finds the cue words and spelled digits in one literal pass (Aho-Corasick), far cheaper than
/// a regex per kind on every message; the kinds' own regexes run only where their cue is.
struct Cues {
    words: AhoCorasick,
    /// Per pattern of `words`: the kind it cues, `None` for a spelled digit.
    kinds: Vec<Option<Mark>>,
}

impl Cues {
    fn new() -> Cues {
        let mut patterns: Vec<String> = SPELLED_DIGITS.chars().map(String::from).collect();
        let mut kinds: Vec<Option<Mark>> = vec![None; patterns.len()];
        let groups: [(&[&str], Mark); 3] =
            [
                (&["微信", "weixin", "wechat", "vx", "v信", "wxid", "qq", "支付宝", "alipay"], |c| c.im = true),
                (&["收件人", "收货人", "联系人", "寄件人", "姓名", "名字", "my name is", "name:"], |c| c.name = true),
                (&["地址", "住址", "家住"], |c| c.address = true),
            ];
        for (words, mark) in groups {
            patterns.extend(words.iter().map(|w| w.to_string()));
            kinds.extend(words.iter().map(|_| Some(mark)));
        }
        let words = AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(&patterns)
            .expect("literal patterns");
        Cues { words, kinds }
    }

    fn scan(&self, text: &str) -> Cued {
        let mut cued = Cued::default();
        let mut run_end = 0;
        for m in self.words.find_iter(text) {
            match self.kinds[m.pattern().as_usize()] {
                Some(mark) => mark(&mut cued),
                None if !cued.spelled && m.start() >= run_end => {
                    // Count the run of spelled (or ASCII) digits starting here.
                    let (mut digits, mut end) = (0, m.start());
                    for (at, c) in text[m.start()..].char_indices() {
                        if SPELLED_DIGITS.contains(c) || c.is_ascii_digit() {
                            digits += 1;
                        } else if c != ' ' && c != '-' {
                            break;
                        }
                        end = m.start() + at + c.len_utf8();
                    }
                    cued.spelled = digits >= 7;
                    run_end = end;
                }
                None => {}
            }
        }
        cued
    }
}

impl PiiMasker {
    pub fn new(config: PiiConfig) -> Self {
        let spelled_digit = format!("[0-9{SPELLED_DIGITS}]");
        PiiMasker {
            config,
            email: Regex::new(r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}").unwrap(),
            // A run of digits, optionally with +86, spaces or dashes inside, ending in a digit or X.
            digits: Regex::new(r"(?:\+?86[ \-]?)?\d(?:[\d \-]*[\dXx])?").unwrap(),
            spelled: Regex::new(&format!(r"{spelled_digit}(?:[ \-]?{spelled_digit}){{6,}}[Xx]?")).unwrap(),
            // +country code and groups; or the North American (415) 555-0132 / 415-555-0132.
            foreign_phone: Regex::new(
                r"\+[1-9]\d{0,2}(?:[ \-.]?\(\d{1,4}\))?(?:[ \-.]?\d{1,5}){2,5}|\(\d{3}\) ?\d{3}[\-. ]\d{4}|\d{3}[\-.]\d{3}[\-.]\d{4}",
            )
            .unwrap(),
            im_id: Regex::new(&format!(
                r"{IM_CUES}(?:号码|账号|帐号|号|(?i:id))?\s*[:：]?\s*(?:是|为)?\s*([A-Za-z][A-Za-z0-9_\-]{{4,29}}|[0-9]{{5,12}})"
            ))
            .unwrap(),
            wxid: Regex::new(r"wxid_[A-Za-z0-9_\-]{4,}").unwrap(),
            name: Regex::new(&format!(r"{NAME_CUES}\s*[:：]?\s*(?:是|为)?\s*(\p{{Han}}{{2,4}}|[A-Z][a-z]+(?: [A-Z][a-z]+)?)"))
                .unwrap(),
            address: Regex::new(&format!(r"{ADDRESS_CUES}\s*[:：]?\s*(?:是|为|在)?\s*([^，。,;；！!？?\s]{{3,60}})"))
                .unwrap(),
            cues: Cues::new(),
        }
    }

    /// Returns the masked text, borrowing when nothing needed masking.
    pub fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let (has_digit, has_at) = digit_and_at(text.as_bytes());
        let cues = self.cues.scan(text);
        if !has_digit && !has_at && cues == Cued::default() {
            return Cow::Borrowed(text);
        }
        let mut out = Cow::Borrowed(text);
        if has_at && self.config.email {
            out = owned_or(out, |t| self.email.replace_all(t, EMAIL));
        }
        // The id regexes start with a cue word, and the cue scan finds every one of them (`wxid`
        // included): a text with digits and no cue has no id to mask.
        if self.config.im_id && cues.im {
            out = owned_or(out, |t| replace_group(&self.im_id, t, 1, true, |m| Some((IM_ID, m.len()))));
            out = owned_or(out, |t| self.wxid.replace_all(t, IM_ID));
        }
        if cues.spelled {
            // Spelled digits: as ASCII, the same shapes as written digits.
            out = owned_or(out, |t| {
                self.spelled.replace_all(t, |caps: &regex::Captures| {
                    let run = &caps[0];
                    let ascii = ascii_digits(run);
                    let spelled = ascii != run;
                    spelled.then(|| self.classify(&ascii)).flatten().map_or_else(|| run.to_owned(), str::to_owned)
                })
            });
        }
        if has_digit && self.config.phone {
            out = owned_or(out, |t| {
                replace_group(&self.foreign_phone, t, 0, true, |m| {
                    let digits = m.bytes().filter(u8::is_ascii_digit).count();
                    (8..=15).contains(&digits).then_some((PHONE, m.len()))
                })
            });
        }
        if has_digit {
            out = owned_or(out, |t| {
                self.digits.replace_all(t, |caps: &regex::Captures| {
                    let run = &caps[0];
                    self.classify(run).map(str::to_owned).unwrap_or_else(|| run.to_owned())
                })
            });
        }
        if cues.address && self.config.address {
            out =
                owned_or(out, |t| replace_group(&self.address, t, 1, false, |m| address_len(m).map(|n| (ADDRESS, n))));
            out = owned_or(out, recipient_after_address);
        }
        if cues.name && self.config.name {
            out = owned_or(out, |t| replace_group(&self.name, t, 1, false, |m| name_len(m).map(|n| (NAME, n))));
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

/// `text` after `step`, keeping the borrow when `step` changed nothing.
fn owned_or<'a>(text: Cow<'a, str>, step: impl FnOnce(&str) -> Cow<'_, str>) -> Cow<'a, str> {
    match step(&text) {
        Cow::Owned(changed) => Cow::Owned(changed),
        Cow::Borrowed(_) => text,
    }
}

/// Replaces capture `group` of every match of `re` that `accept` takes: it gives the token and
/// how many bytes of the capture, from its start, to replace. With `standalone`, a match that
/// runs into an ASCII letter or digit on either side is part of something longer and stays.
fn replace_group<'t>(
    re: &Regex,
    text: &'t str,
    group: usize,
    standalone: bool,
    accept: impl Fn(&str) -> Option<(&'static str, usize)>,
) -> Cow<'t, str> {
    let mut out = String::new();
    let mut copied = 0;
    let joined = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_');
    for caps in re.captures_iter(text) {
        let Some(m) = caps.get(group) else { continue };
        let Some((token, len)) = accept(m.as_str()) else { continue };
        let end = m.start() + len;
        if standalone && (joined(text[..m.start()].chars().next_back()) || joined(text[end..].chars().next())) {
            continue;
        }
        if m.start() >= copied {
            out.push_str(&text[copied..m.start()]);
            out.push_str(token);
            copied = end;
        }
    }
    if out.is_empty() {
        return Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    Cow::Owned(out)
}

/// ASCII digits for spelled ones; other characters as they are.
fn ascii_digits(run: &str) -> String {
    run.chars()
        .map(|c| match c {
            '零' | '〇' => '0',
            '一' | '幺' => '1',
            '二' | '两' => '2',
            '三' => '3',
            '四' => '4',
            '五' => '5',
            '六' => '6',
            '七' => '7',
            '八' => '8',
            '九' => '9',
            '０'..='９' => char::from_digit(c as u32 - '０' as u32, 10).unwrap_or(c),
            c => c,
        })
        .collect()
}

/// How much of the text after an address cue is the address: up to its last address ending
/// (号, 室, 路, …). `None` when it does not read as one — two places (省, 市, 路, 号, …) or one
/// and a number: "地址不对" and "地址填错了" are complaints, "地址是哪里" a question.
fn address_len(after_cue: &str) -> Option<usize> {
    let (at, c) = after_cue.char_indices().rev().find(|(_, c)| ADDRESS_ENDS.contains(*c))?;
    let address = &after_cue[..at + c.len_utf8()];
    let places = address.chars().filter(|c| ADDRESS_PLACES.contains(*c)).count();
    let numbered = address.chars().any(|c| c.is_ascii_digit() || "一二三四五六七八九十".contains(c));
    (at > 0 && (places >= 2 || (places == 1 && numbered))).then_some(address.len())
}

/// How much of the text after a name cue is the name: a capitalised English name, or a common
/// surname and at most two more characters (what follows a name runs straight on in Chinese;
/// one character too many is masked rather than one too few). `None`: not a name
/// ("联系人不接电话").
fn name_len(m: &str) -> Option<usize> {
    let first = m.chars().next()?;
    if first.is_ascii_uppercase() {
        return Some(m.len());
    }
    let surname = if COMPOUND_SURNAMES.iter().any(|s| m.starts_with(s)) {
        2
    } else if SURNAMES.contains(first) {
        1
    } else {
        return None;
    };
    Some(m.char_indices().nth(surname + 2).map_or(m.len(), |(at, _)| at))
}

fn is_name(m: &str) -> bool {
    name_len(m).is_some()
}

/// "地址：<ADDRESS>，张三收": the recipient's name right after a masked address.
fn recipient_after_address(text: &str) -> Cow<'_, str> {
    let Some(at) = text.find(ADDRESS) else { return Cow::Borrowed(text) };
    let rest = &text[at + ADDRESS.len()..];
    let rest_trimmed = rest.trim_start_matches([',', '，', ' ']);
    let skip = rest.len() - rest_trimmed.len();
    let name: String = rest_trimmed.chars().take_while(|c| *c != '收').take(4).collect();
    let n = name.chars().count();
    if (2..=3).contains(&n) && rest_trimmed[name.len()..].starts_with('收') && is_name(&name) {
        let start = at + ADDRESS.len() + skip;
        return Cow::Owned(format!("{}{NAME}{}", &text[..start], &text[start + name.len()..]));
    }
    Cow::Borrowed(text)
}

/// The birth date inside an 18-digit ID number: YYYYMMDD between 1900 and 2099.
fn is_id_date(d: &str) -> bool {
    let year: u32 = d[..4].parse().unwrap_or(0);
    let month: u32 = d[4..6].parse().unwrap_or(0);
    let day: u32 = d[6..8].parse().unwrap_or(0);
    (1900..2100).contains(&year) && (1..=12).contains(&month) && (1..=31).contains(&day)
}

pub(crate) fn luhn(digits: &str) -> bool {
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
        PiiMasker::new(PiiConfig::default())
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
    fn masks_personal_data_as_people_write_it() {
        let m = masker();
        let cases = [
            ("手机号是一三八零零一三八零零零", "手机号是<PHONE>"),
            ("打幺三九 一二三四 五六七八找我", "打<PHONE>找我"),
            ("电话１３８１２３４５６７８", "电话<PHONE>"),
            ("call (415) 555-0132 now", "call <PHONE> now"),
            ("call 415-555-0132.", "call <PHONE>."),
            ("ring +1 415 555 0132 or +44 20 7946 0958", "ring <PHONE> or <PHONE>"),
            ("加我微信号 wxid_abc123 退款", "加我微信号 <IM_ID> 退款"),
            ("微信：lilei_1990", "微信：<IM_ID>"),
            ("QQ 123456789 联系", "QQ <IM_ID> 联系"),
            ("支付宝账号是 zhang_san88", "支付宝账号是 <IM_ID>"),
            ("地址：北京市朝阳区建国路88号，张三收", "地址：<ADDRESS>，<NAME>收"),
            ("收货地址上海市浦东新区世纪大道100号3号楼502室快递一直没送到", "收货地址<ADDRESS>快递一直没送到"),
            ("收件人：李小明，电话13812345678", "收件人：<NAME>，电话<PHONE>"),
            ("姓名欧阳娜娜", "姓名<NAME>"),
            ("my name is John Smith", "my name is <NAME>"),
        ];
        for (text, masked) in cases {
            assert_eq!(m.mask(text), masked, "{text}");
        }
    }

    #[test]
    fn cue_words_alone_mask_nothing() {
        let m = masker();
        for text in [
            "地址不对，送错了",
            "联系人不接电话",
            "微信支付扣了两次钱",
            "QQ音乐会员自动续费",
            "一二三四五六七八九十，数到十",
            "订单号2024-11-11-001",
            "版本 8.2.1 闪退",
            "等了两三天才到",
            "微信 20 元红包",
        ] {
            assert_eq!(m.mask(text), text);
        }
    }

    #[test]
    fn respects_switched_off_kinds() {
        let m = PiiMasker::new(PiiConfig { phone: false, email: false, im_id: false, ..PiiConfig::default() });
        assert_eq!(m.mask("13812345678 a@b.cn"), "13812345678 a@b.cn");
    }
}
