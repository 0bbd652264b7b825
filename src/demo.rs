//! The demo stream: one day of realistic feedback (mostly Chinese, some English) across
//! channels and two campaigns, with a new kind of complaint emerging slowly from 10:00 (gifts to
//! live streamers charged but not delivered), an injected payment spike at 14:00 (from a new
//! app version), a few
//! high-risk messages, and a `double11` sentiment dip at 20:00. Generated deterministically from a seed, as NDJSON lines, so the
//! demo exercises the same decode → clean → enrich path as real input (a few records are
//! deliberately bad, to show the dead-letter path).

use crate::util::SplitMix;
use serde_json::json;

/// Minutes after midnight when the payment spike starts, and how long it lasts.
pub const SPIKE_START_MIN: i64 = 14 * 60;
pub const SPIKE_MINUTES: i64 = 3;
/// Minutes after midnight when the double11 sentiment dip starts, and how long it lasts.
pub const DIP_START_MIN: i64 = 20 * 60;
pub const DIP_MINUTES: i64 = 25;
/// Minutes after midnight when the emerging complaint starts, and how long it trickles in.
pub const EMERGING_START_MIN: i64 = 10 * 60;
pub const EMERGING_MINUTES: i64 = 120;

const CHANNELS: &[(&str, f64)] =
    &[("app", 0.45), ("hotline", 0.15), ("ticket", 0.15), ("appstore", 0.1), ("weibo", 0.15)];

/// (category, weight, Chinese texts, English texts)
const COMPLAINTS: &[(&str, f64, &[&str], &[&str])] = &[
    (
        "crash",
        0.14,
        &["刚更新就闪退，根本打不开", "看视频的时候App直接崩溃了", "一直卡死白屏，太失望了", "打开就闪退，重装也没用"],
        &["The app crashes every time I open it", "App freezes on the home screen after the update"],
    ),
    (
        "payment",
        0.10,
        &["付款一直失败，请尽快处理", "微信支付显示异常，麻烦看一下", "支付页面转圈转半天"],
        &["Payment keeps failing at checkout"],
    ),
    (
        "refund",
        0.09,
        &["申请退款七天了还没到账", "退款被无理由驳回，希望给个说法", "退货退款流程太复杂"],
        &["Still waiting for my refund after a week"],
    ),
    (
        "login",
        0.09,
        &["登录一直提示验证码错误", "账号突然登不上去了", "换了手机就无法登录"],
        &["Can't log in, the verification code never arrives"],
    ),
    (
        "ads",
        0.07,
        &["开屏广告太多还关不掉", "看个视频插了三个广告", "广告误触就跳转到别的App"],
        &["Too many ads, can't even close them"],
    ),
    (
        "live_stream",
        0.08,
        &["直播间一直卡顿黑屏", "直播回放打不开", "主播画面和声音不同步"],
        &["Live stream keeps buffering"],
    ),
    (
        "content_quality",
        0.07,
        &["推荐的内容全是低质量搬运", "刷到的都是标题党", "内容重复推荐太严重"],
        &["Feed is full of clickbait"],
    ),
    (
        "account_ban",
        0.05,
        &["账号莫名其妙被封了", "申诉封号一直没有回复", "发了条评论就被禁言"],
        &["My account was banned for no reason"],
    ),
    (
        "delivery",
        0.08,
        &["快递三天了还没发货", "物流信息一直不更新", "收到的包裹破损了"],
        &["My parcel has not shipped after three days"],
    ),
    (
        "pricing",
        0.06,
        &["会员价格又涨了", "同一个商品老用户更贵", "优惠券根本用不了"],
        &["Membership price went up again"],
    ),
    (
        "ux",
        0.07,
        &["新版界面找不到设置入口", "字体太小看不清", "按钮位置改来改去很难用"],
        &["The new interface is confusing"],
    ),
];

/// Feedback that is not a complaint: suggestions and praise keep the negative share realistic.
const NEUTRAL: &[&str] = &[
    "希望增加夜间模式",
    "建议支持横屏播放",
    "客服很耐心，问题解决了，谢谢",
    "新版本流畅多了，点赞",
    "物流很快，很满意",
    "想问一下会员怎么续费",
    "Great update, the app feels smooth now",
    "Thanks for fixing the login issue",
];

const SPIKE_TEXTS: &[&str] = &[
    "付款失败，钱却扣了两次",
    "支付成功了订单却显示未付款，重复扣款",
    "刚才付款扣了钱订单没生成，非常生气",
    "微信支付一直失败，已经第二次了",
    "支付页面报错，扣款两次，请尽快退钱",
    "I was charged twice and the order failed",
];

const DIP_TEXTS: &[&str] = &[
    "双11优惠券根本用不了，太坑了",
    "双11活动价格是假的，先涨价再打折，骗子",
    "双11抢的券结算时失效，非常生气",
    "双十一满减规则太坑人，体验很差",
    "Double 11 coupon is a scam, never again",
    "双11付了定金却说没货，希望给个说法",
];

/// A kind of complaint the taxonomy has no category for: it starts small and stays small.
const EMERGING_TEXTS: &[&str] = &[
    "给主播刷的礼物没显示，钱却被扣了",
    "直播间打赏扣了钱但礼物没到账",
    "送礼物扣了抖币，主播那边根本没收到",
    "打赏失败但是余额被扣了",
    "Gift to the streamer was charged but never showed up",
];

/// Messages that need a person at once, whatever the volumes say (minute of the day, text).
const HIGH_RISK: &[(i64, &str)] = &[
    (15 * 60 + 30, "三次退款都被驳回，再不处理我就去法院起诉你们"),
    (17 * 60 + 10, "我的银行卡在你们平台被盗刷了三千块"),
    (22 * 60 + 5, "已经投诉到12315了，等着吧"),
];

const SUBJECTS: &[&str] = &["", "我", "今天", "刚才", "昨天晚上", "这周"];
const CONTACT: &[&str] = &["，电话13812345678", "，联系邮箱 li.lei@example.com", "，我的手机 139 1234 5678"];

/// Every text the demo can produce, without the random mixing: complaint templates with each
/// subject prefix, praise and suggestions, the spike and dip texts. Tests use it as a corpus of
/// realistic Chinese and English feedback.
pub fn sample_texts() -> Vec<String> {
    let mut out = Vec::new();
    for (_, _, zh, en) in COMPLAINTS {
        for text in *zh {
            out.extend(SUBJECTS.iter().map(|s| format!("{s}{text}")));
        }
        out.extend(en.iter().map(|t| t.to_string()));
    }
    for text in NEUTRAL.iter().chain(SPIKE_TEXTS).chain(DIP_TEXTS).chain(EMERGING_TEXTS) {
        out.push(text.to_string());
    }
    out
}

fn diurnal(minute: i64) -> f64 {
    // 0.3 at 04:00, 1.0 around 16:00.
    let phase = (minute as f64 - 240.0) / 1440.0 * std::f64::consts::TAU;
    0.65 - 0.35 * phase.cos()
}

/// An ordinary message: the dip's complaints during the dip, questions and praise, or a
/// complaint drawn by weight (some in English, a few with contact details to mask).
fn background_text(rng: &mut SplitMix, campaign: Option<&str>, in_dip: bool, total_weight: f64) -> String {
    if campaign == Some("double11") && in_dip && rng.unit() < 0.8 {
        rng.pick(DIP_TEXTS).to_string()
    } else if rng.unit() < if campaign == Some("double11") { 0.6 } else { 0.35 } {
        // Shoppers in a running campaign mostly ask and praise; the dip stands out.
        rng.pick(NEUTRAL).to_string()
    } else {
        let mut r = rng.unit() * total_weight;
        let mut chosen = &COMPLAINTS[0];
        for c in COMPLAINTS {
            if r < c.1 {
                chosen = c;
                break;
            }
            r -= c.1;
        }
        let english = rng.unit() < 0.12;
        let base = if english {
            rng.pick(chosen.3).to_string()
        } else {
            format!("{}{}", rng.pick(SUBJECTS), rng.pick(chosen.2))
        };
        if rng.unit() < 0.03 {
            format!("{base}{}", rng.pick(CONTACT))
        } else {
            base
        }
    }
}

/// One day of demo feedback starting at `day_start_ms` (a local midnight), in arrival order.
/// Returns `(arrival_ms, line)` pairs; event times jitter up to 2 s behind arrival.
pub fn generate(day_start_ms: i64, seed: u64) -> Vec<(i64, String)> {
    let mut rng = SplitMix::new(seed);
    let mut out: Vec<(i64, String)> = Vec::new();
    let mut seq = 0u64;
    let total_weight: f64 = COMPLAINTS.iter().map(|c| c.1).sum();
    for minute in 0..1440i64 {
        let minute_ms = day_start_ms + minute * 60_000;
        let mut emit = |rng: &mut SplitMix, text: String, category_hint: Option<&str>, campaign: Option<&str>| {
            let ts = minute_ms + (rng.unit() * 60_000.0) as i64;
            let mut r = rng.unit();
            let mut channel = CHANNELS[0].0;
            for (c, w) in CHANNELS {
                if r < *w {
                    channel = c;
                    break;
                }
                r -= w;
            }
            let mut record = json!({
                "id": format!("demo-{seq:07}"),
                "ts": ts,
                "channel": channel,
                "text": text,
                "lang": if text.is_ascii() { "en" } else { "zh" },
            });
            if let Some(c) = campaign {
                record["campaign"] = json!(c);
            }
            // The app version the message came from: the payment spike follows a release
            // (8.2.0) that nobody else runs yet, which the spike's drivers name. Taken from the
            // sequence number, not the random stream, so the rest of the day is as it was.
            let spike = category_hint == Some("payment");
            let version = match (spike, seq % 10) {
                (true, 0) | (false, 1..=7) => "8.1.3",
                (true, _) => "8.2.0",
                (false, _) => "8.1.2",
            };
            record["meta"] = match category_hint {
                Some(hint) => json!({ "form": hint, "app_version": version }),
                None => json!({ "app_version": version }),
            };
            seq += 1;
            let arrival = ts + (rng.unit() * 2000.0) as i64;
            out.push((arrival, record.to_string()));
        };
        let in_dip = (DIP_START_MIN..DIP_START_MIN + DIP_MINUTES).contains(&minute);
        let n = rng.poisson(32.0 * diurnal(minute));
        for _ in 0..n {
            let campaign = match rng.unit() {
                x if x < 0.25 => Some("double11"),
                x if x < 0.35 => Some("newyear"),
                _ => None,
            };
            let text = background_text(&mut rng, campaign, in_dip, total_weight);
            emit(&mut rng, text, None, campaign);
        }
        if (SPIKE_START_MIN..SPIKE_START_MIN + SPIKE_MINUTES).contains(&minute) {
            for _ in 0..70 {
                let complaint = *rng.pick(SPIKE_TEXTS);
                let subject = if complaint.is_ascii() { "" } else { rng.pick(SUBJECTS) };
                let text = format!("{subject}{complaint}");
                emit(&mut rng, text, Some("payment"), None);
            }
        }
        if (EMERGING_START_MIN..EMERGING_START_MIN + EMERGING_MINUTES).contains(&minute) && rng.unit() < 0.5 {
            let text = rng.pick(EMERGING_TEXTS).to_string();
            emit(&mut rng, text, None, None);
        }
        for (_, text) in HIGH_RISK.iter().filter(|(m, _)| *m == minute) {
            emit(&mut rng, text.to_string(), None, None);
        }
        if in_dip {
            for _ in 0..6 {
                let text = rng.pick(DIP_TEXTS).to_string();
                emit(&mut rng, text, None, Some("double11"));
            }
        }
    }
    out.extend(conversations(day_start_ms));
    out.extend(tickets(day_start_ms, seed));
    // Three bad records, to show that bad input is counted and dead-lettered, never fatal.
    for (minute, line) in [
        (300, "{\"id\": \"demo-bad-1\", \"channel\": \"app\"}".to_string()),
        (600, "{\"id\": \"demo-bad-2\", \"text\": \"闪退".to_string()),
        (
            900,
            format!(
                "{{\"id\": \"demo-bad-3\", \"ts\": {}, \"text\": \"来自未来的消息\"}}",
                day_start_ms + 10 * 86_400_000
            ),
        ),
    ] {
        out.push((day_start_ms + minute * 60_000, line));
    }
    out.sort_by_key(|(arrival, _)| *arrival);
    out
}

/// Chat conversations (minute of the day, tier, turns as (seconds after the start, role,
/// text)): an upset customer and a legal threat handed off until an agent comes, an unhappy VIP
/// whom nobody answers, an agent who answers rudely (transcript QA) before the chat is ended,
/// and a calm one that needs nobody.
/// A chat turn: seconds after the conversation's start, role, text.
type ChatTurn = (i64, &'static str, &'static str);

const CONVERSATIONS: &[(i64, Option<&str>, &[ChatTurn])] = &[
    (
        9 * 60 + 15,
        None,
        &[
            (0, "customer", "你好，我的快递三天了还没发货"),
            (20, "bot", "您好，请提供订单号，我帮您查询"),
            (60, "customer", "气死我了，你们这是什么垃圾服务，骗子公司"),
            (90, "customer", "太差劲了，我要投诉，退钱"),
            (240, "agent", "非常抱歉让您久等了，我马上为您加急处理"),
        ],
    ),
    (
        11 * 60 + 40,
        Some("vip"),
        &[(0, "customer", "会员的专属客服怎么一直没人回复，很失望"), (120, "customer", "还是没人理我")],
    ),
    (
        15 * 60 + 5,
        None,
        &[
            (0, "customer", "退款申请三次都被驳回了"),
            (30, "bot", "您好，退款审核一般需要1-3个工作日"),
            (50, "customer", "再不给我退款我就去法院起诉你们"),
            (200, "agent", "您好，我是客服专员，这就为您核实退款"),
        ],
    ),
    (
        18 * 60 + 10,
        None,
        &[
            (0, "customer", "请问我的退款什么时候到账"),
            (40, "agent", "你自己看订单页面"),
            (70, "customer", "好吧"),
            (90, "end", ""),
        ],
    ),
    (
        19 * 60 + 30,
        None,
        &[
            (0, "customer", "请问双十一的优惠券怎么领取"),
            (15, "bot", "您好，在活动页面点击领取即可"),
            (40, "customer", "好的，谢谢"),
        ],
    ),
];

/// The demo's conversation turns, as `(arrival_ms, line)`.
fn conversations(day_start_ms: i64) -> Vec<(i64, String)> {
    let mut out = Vec::new();
    for (k, (minute, tier, turns)) in CONVERSATIONS.iter().enumerate() {
        let start = day_start_ms + minute * 60_000;
        for (i, (after_s, role, text)) in turns.iter().enumerate() {
            let ts = start + after_s * 1000;
            if *role == "end" {
                let end = json!({"type": "end", "id": format!("demo-chat-{k}-end"), "ts": ts, "conversation": format!("chat-{k}")});
                out.push((ts + 300, end.to_string()));
                continue;
            }
            let mut record = json!({
                "id": format!("demo-chat-{k}-{i}"), "ts": ts, "channel": "chat", "text": text,
                "conversation": format!("chat-{k}"), "role": role, "seq": i, "user": format!("u-chat-{k}"),
            });
            if *role == "agent" {
                record["agent"] = json!("agent-007");
            }
            if let Some(tier) = tier {
                record["meta"] = json!({ "tier": tier });
            }
            out.push((ts + 300, record.to_string()));
        }
    }
    out
}

/// When the shop's service desk is slow (its tickets take 3–5 minutes to handle instead of 1–2).
pub const SLOW_DESK_START_MIN: i64 = 16 * 60;
pub const SLOW_DESK_MINUTES: i64 = 40;
const AGENTS: &[&str] = &["agent-007", "agent-011", "agent-023", "agent-042"];

/// The service desk's tickets, 08:00–20:00, as `(arrival_ms, line)`: opened, assigned, answered
/// within 10–40 s and resolved after 40–90 s more; one in six is first answered by
/// the bot and handed to a person, who takes it within 8–22 s. Injected: the shop's slow
/// afternoon (handling 3–5 minutes from 16:00 for 40 minutes, a ticket every 90 s), a first
/// response after two minutes at 10:30, a takeover after 75 s at 13:10, and a hand-off nobody
/// takes for three minutes at 17:20. A random stream of its own, so the rest of the day is as
/// it was.
fn tickets(day_start_ms: i64, seed: u64) -> Vec<(i64, String)> {
    let mut rng = SplitMix::new(seed ^ 0x7469_636b_6574);
    let mut out = Vec::new();
    let mut n = 0;
    let mut add = |opened_min: f64, business: &str, agent: &str, steps: &[(i64, &str, bool)]| {
        let opened = day_start_ms + (opened_min * 60_000.0) as i64;
        for (i, (after_s, status, by_agent)) in steps.iter().enumerate() {
            let ts = opened + after_s * 1000;
            let mut record = json!({
                "type": "ticket", "id": format!("demo-ticket-{n}-{i}"), "ticket": format!("TK-{n:04}"),
                "status": status, "business": business, "ts": ts, "seq": i,
            });
            if *by_agent {
                record["agent"] = json!(agent);
            }
            out.push((ts + 200, record.to_string()));
        }
        n += 1;
    };
    // (first response, handling) after `assigned` at 5 s; or, handed off, (takeover, handling).
    let direct = |first_response: i64, handling: i64| {
        vec![
            (0, "opened", false),
            (5, "assigned", true),
            (first_response, "first_response", true),
            (first_response + handling, "resolved", true),
        ]
    };
    let handed = |takeover: i64, handling: i64| {
        vec![
            (0, "opened", false),
            (3, "first_response", false),
            (12, "handed_off", false),
            (12 + takeover, "assigned", true),
            (12 + takeover + handling, "resolved", true),
        ]
    };
    let mut minute = 8.0 * 60.0;
    while minute < 20.0 * 60.0 {
        let slow = (SLOW_DESK_START_MIN as f64..(SLOW_DESK_START_MIN + SLOW_DESK_MINUTES) as f64).contains(&minute);
        let business = if slow || rng.unit() < 0.5 { "shop" } else { "live" };
        let agent = *rng.pick(AGENTS);
        let handling = if slow { 180 + rng.below(121) } else { 40 + rng.below(51) } as i64;
        let steps = match rng.unit() < 1.0 / 6.0 {
            true => handed(8 + rng.below(15) as i64, handling),
            false => direct(10 + rng.below(31) as i64, handling),
        };
        add(minute, business, agent, &steps);
        minute += if slow { 1.5 } else { 2.0 + rng.unit() * 4.0 };
    }
    add(10.0 * 60.0 + 30.0, "live", "agent-023", &direct(120, 40));
    add(13.0 * 60.0 + 10.0, "live", "agent-011", &handed(75, 80));
    add(17.0 * 60.0 + 20.0, "shop", "agent-042", &handed(180, 70));
    out
}

/// The UTC midnight starting yesterday: the demo's day lies entirely in the past.
/// Yesterday's local midnight in `calendar`, epoch ms: the demo replays a whole past day.
pub fn yesterday_midnight_ms(calendar: &crate::util::calendar::Calendar) -> i64 {
    let now_s = chrono::Utc::now().timestamp();
    calendar.day_start_after(now_s, -1) * 1000
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_stream_is_deterministic_and_carries_its_injections() {
        let a = generate(0, 7);
        assert_eq!(a, generate(0, 7));
        assert!(a.len() > 20_000 && a.len() < 40_000, "{}", a.len());
        assert!(a.windows(2).all(|w| w[0].0 <= w[1].0), "arrival order");
        let spike_min = |line: &str| line.contains("\"form\":\"payment\"");
        assert_eq!(a.iter().filter(|(_, l)| spike_min(l)).count(), (70 * SPIKE_MINUTES) as usize);
        assert!(a.iter().any(|(_, l)| l.contains("13812345678")), "some records carry PII to mask");
        assert!(a.iter().any(|(_, l)| l.contains("\"lang\":\"en\"")));
    }
}
