use super::*;
use crate::records::conversation::ConversationState;

fn sheet() -> QaSheet {
    toml::from_str(
        r#"
name = "desk"
greeting = { phrases = ["您好", "hello"], within = 2, weight = 10 }
closing = { phrases = ["还有什么可以帮您", "bye"], weight = 10 }
empathy = { phrases = ["抱歉", "sorry"], below = -0.5, weight = 20, severe = true }
sample = 0.0
[[forbidden]]
name = "rude"
phrases = ["不知道"]
regex = ["爱买不买"]
except = ["不知道您"]
weight = 30
"#,
    )
    .unwrap()
}

fn turn(role: Role, sentiment: f64, text: &str) -> Turn {
    Turn {
        conversation: "cv".into(),
        role,
        agent: (role == Role::Agent).then(|| "a-1".into()),
        team: (role == Role::Agent).then(|| "t-north".into()),
        sentiment_milli: (sentiment * 1000.0) as i32,
        text: text.into(),
        ..Default::default()
    }
}

/// Folds turns as the conversation operator does (tallies, last agent, team, min sentiment).
fn state(rules: &QaRules, turns: &[Turn]) -> ConversationState {
    let mut s = ConversationState { conversation: "cv".into(), ..Default::default() };
    for t in turns {
        rules.step(&mut s.qa, t);
        if t.role == Role::Agent {
            s.last_agent.clone_from(&t.agent);
            s.team.clone_from(&t.team);
        }
        if t.role == Role::Customer {
            s.min_sentiment_milli = Some(s.min_sentiment_milli.map_or(t.sentiment_milli, |m| m.min(t.sentiment_milli)));
        }
    }
    s
}

#[test]
fn a_good_conversation_scores_100_and_a_poor_one_loses_each_checks_weight() {
    let rules = QaRules::new(&[sheet()]);
    let good = [
        turn(Role::Customer, -0.2, "订单没到"),
        turn(Role::Agent, 0.3, "您好，我来查一下"),
        turn(Role::Customer, -0.8, "太慢了！"),
        turn(Role::Agent, 0.1, "非常抱歉让您久等"),
        turn(Role::Agent, 0.3, "已加急，还有什么可以帮您？"),
    ];
    let v = rules.verdict(&state(&rules, &good), 1_000, &mut ReviewSampler::default()).unwrap();
    assert_eq!(
        (v.score, v.violations.len(), v.agent.as_deref(), v.team.as_deref()),
        (100, 0, Some("a-1"), Some("t-north"))
    );
    assert!(!v.sampled, "the sheet's share is 0: nothing is reviewed (the sampling test below)");
    let poor = [
        turn(Role::Customer, -0.9, "钱扣了两次"),
        turn(Role::Agent, 0.0, "这个我不知道"),
        turn(Role::Customer, -0.9, "那谁知道？"),
        turn(Role::Agent, 0.0, "爱买不买"),
    ];
    let v = rules.verdict(&state(&rules, &poor), 1_000, &mut ReviewSampler::default()).unwrap();
    let checks: Vec<(&str, u32, bool)> = v.violations.iter().map(|x| (x.check.as_str(), x.weight, x.severe)).collect();
    assert_eq!(
        checks,
        [
            ("greeting", 10, false),
            ("closing", 10, false),
            ("empathy", 40, true),
            ("rude", 30, true),
            ("rude", 30, true)
        ]
    );
    assert_eq!(v.score, 0, "120 points lost, floored at 0");
    assert_eq!(v.violations[4].detail, "said “爱买不买”", "the regex's match");
}

#[test]
fn exceptions_a_late_greeting_and_bot_only_conversations() {
    let rules = QaRules::new(&[sheet()]);
    let turns = [
        turn(Role::Customer, 0.2, "hi"),
        turn(Role::Agent, 0.2, "我不知道您的订单号，请提供"),
        turn(Role::Agent, 0.2, "请稍等"),
        turn(Role::Agent, 0.2, "您好"),
        turn(Role::Agent, 0.2, "bye"),
    ];
    let v = rules.verdict(&state(&rules, &turns), 1_000, &mut ReviewSampler::default()).unwrap();
    let checks: Vec<&str> = v.violations.iter().map(|x| x.check.as_str()).collect();
    assert_eq!(checks, ["greeting"], "不知道您 is excepted; the greeting came third, past `within`");
    assert!(!v.sampled, "sample = 0 and no low emotion");
    let bot_only = [turn(Role::Customer, -0.9, "??"), turn(Role::Bot, 0.0, "您好")];
    assert!(
        rules.verdict(&state(&rules, &bot_only), 1_000, &mut ReviewSampler::default()).is_none(),
        "no agent: nobody to score"
    );
}

/// Reviews chosen from `n` conversations, every `low_every`-th one low-emotion (0: none).
fn reviewed(share: f64, n: usize, low_every: usize) -> Vec<(usize, bool)> {
    let mut review = ReviewSampler::default();
    (0..n).map(|i| (i, low_every > 0 && i % low_every == 0)).filter(|&(_, low)| review.take(0, share, low)).collect()
}

#[test]
fn sampling_is_the_share_with_low_emotion_conversations_first() {
    // No low emotion: the share, spread evenly, the same picks on every run.
    let picks = reviewed(0.3, 2000, 0);
    assert!((598..=602).contains(&picks.len()), "{} of 2000 at 30 %", picks.len());
    assert_eq!(picks, reviewed(0.3, 2000, 0));
    assert!(picks.windows(2).all(|w| w[1].0 - w[0].0 <= 4), "no long gap");
    // Low emotion rarer than the share (5 % vs 30 %): every one of them, and the share in all.
    let picks = reviewed(0.3, 2000, 20);
    assert_eq!(picks.iter().filter(|(_, low)| *low).count(), 100);
    assert!((598..=602).contains(&picks.len()), "{}", picks.len());
    // Commoner than the share (20 % vs 10 %): only they, and no more than the share.
    let picks = reviewed(0.1, 2000, 5);
    assert!(picks.iter().all(|(_, low)| *low), "{picks:?}");
    assert!((198..=202).contains(&picks.len()), "{}", picks.len());
    // A share of 0 reviews nothing, low emotion or not.
    assert!(reviewed(0.0, 100, 2).is_empty());
    // The first conversation is reviewed when it is low-emotion, whatever the share.
    assert_eq!(reviewed(0.01, 1, 1), [(0, true)]);
}

#[test]
fn a_verdict_adds_one_scored_conversation_to_its_agents_teams_and_businesss_windows() {
    let rules = QaRules::new(&[sheet()]);
    let mut st = state(&rules, &[turn(Role::Agent, 0.0, "您好, bye")]);
    st.business = Some("shop".into());
    let v = rules.verdict(&st, 120_000, &mut ReviewSampler::default()).unwrap();
    let adds = kpi_additions(&v, &[60, 3600], &Calendar::default());
    let series: Vec<String> = adds
        .iter()
        .filter(|(k, _)| k.size_s == 60)
        .map(|(k, _)| format!("{}={}", k.series.key, k.series.value))
        .collect();
    assert_eq!(series, ["overall=all", "business=shop", "agent=a-1", "team=t-north"]);
    assert!(adds.iter().all(|(k, a)| a.qa == [1, 100, 0] && (k.size_s != 60 || k.start_s == 120)));
}
