//! Merging and validating the configuration files: every problem is collected, each with its
//! `file:line`, and reported together (docs/configuration.md).

use super::rules::{is_http_url, AlertsFile, RuleFile};
use super::schema::{DataflowFile, Problem};
use super::*;
use std::collections::BTreeSet;

/// The problems found so far.
#[derive(Default)]
struct Report(Vec<ConfigError>);

impl Report {
    fn at(&mut self, file: &str, line: usize, message: String) {
        self.0.push(ConfigError { file: file.to_string(), line, message });
    }
}

fn parse<T: serde::de::DeserializeOwned>(source: &Source, report: &mut Report) -> Option<T> {
    match toml::from_str(&source.text) {
        Ok(file) => Some(file),
        Err(e) => {
            let line = e.span().map(|s| line_of(&source.text, s.start)).unwrap_or(0);
            // Some syntax errors carry no message of their own (found by the hostile-input
            // run); the full text then says what and where.
            let message = match (e.message().trim(), e.span()) {
                ("", Some(span)) => {
                    let start = span.start.min(source.text.len());
                    let column = source.text[..start].rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
                    match source.text.get(start..).and_then(|rest| rest.chars().next()) {
                        Some(c) if !c.is_whitespace() => format!("invalid TOML at column {column}: unexpected {c:?}"),
                        _ => format!("invalid TOML at column {column}: a value or key is missing"),
                    }
                }
                ("", None) => "invalid TOML".to_string(),
                (m, _) => m.to_string(),
            };
            report.at(&source.name, line, message);
            None
        }
    }
}

/// The dataflow tables gathered from every file; lists keep where each entry was written.
#[derive(Default)]
struct Dataflow {
    ingest: Option<(String, IngestConfig)>,
    windows: Vec<(String, usize, WindowConfig)>,
    clean: Option<CleanConfig>,
    pii: Option<PiiConfig>,
    enrich: Option<EnrichConfig>,
    redis: Option<RedisConfig>,
    alertmanager: Option<AlertmanagerConfig>,
    categories: Vec<(String, usize, CategoryConfig)>,
    risks: Vec<(String, usize, RiskConfig)>,
    cluster: Option<ClusterConfig>,
    scopes: Vec<ScopeConfig>,
    /// `[[aggregate]]` keys with the window sizes they keep (`None`: all), where written.
    aggregates: Vec<(String, usize, Key, Option<Vec<HumanDuration>>)>,
    calendar: Option<crate::util::calendar::Calendar>,
    attribution: Option<AttributionConfig>,
    conversation: Option<ConversationConfig>,
    /// `[tickets]`, where written (checked once the window sizes are known).
    tickets: Option<(String, usize, TicketsConfig)>,
}

impl Dataflow {
    /// Takes in one file's tables. Single-valued tables may be given once.
    fn absorb(&mut self, source: &Source, file: DataflowFile, report: &mut Report) {
        let name = source.name.as_str();
        let line = |span: std::ops::Range<usize>| line_of(&source.text, span.start);
        if let Some(spanned) = file.ingest {
            let at = line(spanned.span());
            let value = spanned.into_inner();
            check_ingest(&value, &mut |m| report.at(name, at, m));
            if let Some((other, _)) = &self.ingest {
                report.at(name, at, format!("[ingest] already given in {other}"));
            }
            self.ingest = Some((name.to_owned(), value));
        }
        for spanned in file.window {
            let at = line(spanned.span());
            let w = spanned.into_inner();
            check_window(&w, &mut |m| report.at(name, at, m));
            self.windows.push((name.to_owned(), at, w));
        }
        if let Some(c) = file.clean {
            for pattern in &c.drop_if_match {
                if let Err(e) = regex::Regex::new(pattern) {
                    report.at(name, 0, format!("clean.drop_if_match: bad regex `{pattern}`: {e}"));
                }
            }
            self.clean = Some(c);
        }
        if let Some(p) = file.pii {
            self.pii = Some(p);
        }
        if let Some(spanned) = file.redis {
            let at = line(spanned.span());
            let r = spanned.into_inner();
            check_redis(&r, &mut |m| report.at(name, at, m));
            if self.redis.is_some() {
                report.at(name, at, "[redis] is defined twice".into());
            }
            self.redis = Some(r);
        }
        if let Some(spanned) = file.alertmanager {
            let at = line(spanned.span());
            let a = spanned.into_inner();
            check_alertmanager(&a, &mut |m| report.at(name, at, m));
            if self.alertmanager.is_some() {
                report.at(name, at, "[alertmanager] is defined twice".into());
            }
            self.alertmanager = Some(a);
        }
        if let Some(spanned) = file.enrich {
            let at = line(spanned.span());
            let e = spanned.into_inner();
            if !(-1.0..=1.0).contains(&e.negative_below) {
                report.at(name, at, "enrich.negative_below must lie in [-1, 1]".into());
            }
            self.enrich = Some(e);
        }
        if let Some(spanned) = file.cluster {
            let at = line(spanned.span());
            let c = spanned.into_inner();
            check_cluster(&c, &mut |m| report.at(name, at, m));
            if self.cluster.is_some() {
                report.at(name, at, "[cluster] is defined twice".into());
            }
            self.cluster = Some(c);
        }
        for spanned in file.risk {
            let (at, r) = (line(spanned.span()), spanned.into_inner());
            let mut problem = |m: String| report.at(name, at, format!("risk `{}`: {m}", r.name));
            check_risk(&r, self.risks.iter().any(|(_, _, o)| o.name == r.name), &mut problem);
            self.risks.push((name.to_owned(), at, r));
        }
        self.absorb_scopes(source, file.scope, file.aggregate, file.calendar, report);
        let mut table = |slot_name: &str, at: usize, twice: bool, problems: Vec<String>| {
            let twice = twice.then(|| format!("[{slot_name}] is defined twice"));
            problems.into_iter().map(|m| format!("{slot_name}.{m}")).chain(twice).for_each(|m| report.at(name, at, m));
        };
        if let Some(spanned) = file.attribution {
            let (at, a) = (line(spanned.span()), spanned.into_inner());
            table("attribution", at, self.attribution.is_some(), problems_of(|p| check_attribution(&a, p)));
            self.attribution = Some(a);
        }
        if let Some(spanned) = file.tickets {
            let (at, t) = (line(spanned.span()), spanned.into_inner());
            table("tickets", at, self.tickets.is_some(), Vec::new());
            self.tickets = Some((name.to_owned(), at, t));
        }
        if let Some(spanned) = file.conversation {
            let (at, c) = (line(spanned.span()), spanned.into_inner());
            table("conversation", at, self.conversation.is_some(), problems_of(|p| check_conversation(&c, p)));
            self.conversation = Some(c);
        }
        for spanned in file.category {
            let (at, c) = (line(spanned.span()), spanned.into_inner());
            let empty = c.name.trim().is_empty().then(|| "category name is empty".to_string());
            let before = self.categories.iter().find(|(_, _, o)| o.name == c.name);
            let twice =
                before.map(|(file, other, _)| format!("category `{}` already defined at {file}:{other}", c.name));
            empty.into_iter().chain(twice).for_each(|m| report.at(name, at, m));
            self.categories.push((name.to_owned(), at, c));
        }
    }

    /// Takes in one file's `[[scope]]`, `[[aggregate]]` and `[calendar]` tables.
    fn absorb_scopes(
        &mut self,
        source: &Source,
        scopes: Vec<toml::Spanned<ScopeConfig>>,
        aggregates: Vec<toml::Spanned<scope::AggregateFile>>,
        calendar: Option<toml::Spanned<scope::CalendarFile>>,
        report: &mut Report,
    ) {
        let name = source.name.as_str();
        let line = |span: std::ops::Range<usize>| line_of(&source.text, span.start);
        for spanned in scopes {
            let at = line(spanned.span());
            let sc = spanned.into_inner();
            let mut problem = |m: String| report.at(name, at, format!("scope `{}`: {m}", sc.name));
            scope::check_scope(&sc, &self.scopes, &mut problem);
            self.scopes.push(sc);
        }
        for spanned in aggregates {
            let at = line(spanned.span());
            match scope::aggregate_key(spanned.get_ref()) {
                Ok(key) if !self.aggregates.iter().any(|a| a.2 == key) => {
                    self.aggregates.push((name.to_owned(), at, key, spanned.get_ref().windows.clone()))
                }
                Ok(key) => report.at(name, at, format!("[[aggregate]] keys {key} given twice")),
                Err(m) => report.at(name, at, format!("[[aggregate]]: {m}")),
            }
        }
        if let Some(spanned) = calendar {
            let at = line(spanned.span());
            match scope::calendar(spanned.get_ref()) {
                Ok(_) if self.calendar.is_some() => report.at(name, at, "[calendar] is defined twice".into()),
                Ok(c) => self.calendar = Some(c),
                Err(m) => report.at(name, at, format!("calendar.timezone: {m}")),
            }
        }
    }

    /// The zone of local days: `[calendar] timezone`, UTC without one.
    fn calendar(&self) -> crate::util::calendar::Calendar {
        self.calendar.clone().unwrap_or_default()
    }

    /// The rules tables make: the escalations' hand-off rule, the SLAs' breach rule, the QA
    /// sheets' violation rule.
    fn made_rules(&self, escalations: Vec<Escalation>, qa: bool) -> Vec<RuleConfig> {
        let mut rules = Vec::new();
        if !escalations.is_empty() {
            let idle = self.conversation.as_ref().map_or_else(|| ConversationConfig::default().idle, |c| c.idle);
            rules.push(handoff_rule(escalations, idle));
        }
        if let Some((_, _, t)) = self.tickets.as_ref().filter(|(_, _, t)| !t.sla.is_empty()) {
            rules.push(sla_rule(t.idle));
        }
        rules.extend(qa.then(qa_rule));
        rules
    }

    /// The window sizes, each given once.
    fn window_sizes(&self, flows: &[Source], report: &mut Report) -> BTreeSet<HumanDuration> {
        let mut sizes = BTreeSet::new();
        for (file, line, w) in &self.windows {
            if !sizes.insert(w.size) {
                report.at(file, *line, format!("window size {} given twice", w.size));
            }
        }
        if self.windows.is_empty() && !flows.is_empty() {
            report.at(&flows[0].name, 0, "no [[window]] defined".into());
        }
        sizes
    }

    /// Checks across tables: risk categories exist, aggregates keep dataflow windows, the
    /// required tables are there.
    fn cross_check(&self, flows: &[Source], report: &mut Report) {
        for (file, line, key, windows) in &self.aggregates {
            for w in windows.iter().flatten() {
                if !self.windows.iter().any(|(_, _, d)| d.size == *w) {
                    report.at(file, *line, format!("[[aggregate]] {key}: window {w} is not a dataflow window"));
                }
            }
        }
        for (file, line, r) in &self.risks {
            for c in &r.categories {
                if c != OTHER && !self.categories.iter().any(|(_, _, k)| &k.name == c) {
                    report.at(file, *line, format!("risk `{}`: category `{c}` is not in the taxonomy", r.name));
                }
            }
        }
        let first = flows.first().map(|s| s.name.as_str()).unwrap_or("dataflows");
        if self.ingest.is_none() {
            report.at(first, 0, "missing [ingest] table".into());
        }
        if let (Some((file, ingest)), Some(_)) = (&self.ingest, &self.redis) {
            if ingest.wal.is_some() {
                let why =
                    "ingest.wal is for durable ingest without Redis; with [redis], durable ingest goes through the \
                           stream the consumer group reads (consume = true): remove one of them";
                report.at(file, 0, why.into());
            }
        }
        if self.enrich.is_none() {
            report.at(first, 0, "missing [enrich] table".into());
        }
    }

    fn into_config(
        self,
        rules: Vec<RuleConfig>,
        webhooks: Vec<WebhookConfig>,
        summarizer: Option<SummarizerConfig>,
        reports: Vec<super::ReportSchedule>,
    ) -> Config {
        let mut windows: Vec<WindowConfig> = self.windows.into_iter().map(|(_, _, w)| w).collect();
        windows.sort_by_key(|w| w.size);
        let judged = super::judged_combined_keys(&rules);
        let mut combined_keys: Vec<Key> = self.aggregates.iter().map(|a| a.2).collect();
        for key in &judged {
            if !combined_keys.contains(key) {
                combined_keys.push(*key);
            }
        }
        // A key a rule judges keeps every window (the rule's, and longer ones for min_expected).
        let aggregate_windows = self
            .aggregates
            .iter()
            .filter(|a| !judged.contains(&a.2))
            .filter_map(|a| a.3.as_ref().map(|w| (a.2, w.iter().map(|d| d.as_secs()).collect())))
            .collect();
        Config {
            ingest: self.ingest.expect("validated").1,
            windows,
            clean: self.clean.unwrap_or_default(),
            pii: self.pii.unwrap_or_default(),
            enrich: self.enrich.expect("validated"),
            categories: self.categories.into_iter().map(|(_, _, c)| c).collect(),
            risks: self.risks.into_iter().map(|(_, _, r)| r).collect(),
            scopes: self.scopes,
            combined_keys,
            aggregate_windows,
            calendar: self.calendar.unwrap_or_default(),
            attribution: self.attribution.unwrap_or_default(),
            conversation: self.conversation.unwrap_or_default(),
            tickets: self.tickets.map(|(_, _, t)| t).unwrap_or_default(),
            qa: Vec::new(),
            cluster: self.cluster.filter(|c| c.enabled),
            rules,
            public_url: "http://127.0.0.1:8080".into(),
            redis: self.redis,
            alertmanager: self.alertmanager,
            webhooks,
            summarizer,
            reports,
        }
    }
}

/// The schedules of `[[report]]` tables, checked against the webhooks and the dataflow's
/// windows (`hourly`: it has a 1h window).
fn check_reports(
    reports: &[(String, usize, super::ReportConfig)],
    webhooks: &[WebhookConfig],
    hourly: bool,
    calendar: &crate::util::calendar::Calendar,
    report: &mut Report,
) -> Vec<super::ReportSchedule> {
    let mut schedules = Vec::new();
    for (i, (file, at, r)) in reports.iter().enumerate() {
        let mut problem = |m: String| report.at(file, *at, format!("report `{}`: {m}", r.name));
        if reports[..i].iter().any(|(_, _, o)| o.name == r.name) {
            problem("name used twice".into());
        }
        for hook in r.webhooks.iter().filter(|h| !webhooks.iter().any(|w| &w.name == *h)) {
            problem(format!("webhooks names `{hook}`, which no [[webhook]] is"));
        }
        if !hourly {
            problem("digests are built from hourly roll-ups: the dataflow needs a 1h [[window]]".into());
        }
        match r.schedule(calendar) {
            Ok(schedule) => schedules.push(schedule),
            Err(problems) => problems.into_iter().for_each(&mut problem),
        }
    }
    schedules
}

/// The problems a check reports, collected.
fn problems_of(check: impl FnOnce(Problem)) -> Vec<String> {
    let mut problems = Vec::new();
    check(&mut |m| problems.push(m));
    problems
}

fn check_ingest(value: &IngestConfig, problem: Problem) {
    if value.tick.0.is_zero() || value.tick.0.as_millis() > 1000 {
        problem("ingest.tick must be between 1ms and 1s".into());
    }
    if value.max_body_bytes < 1024 {
        problem("ingest.max_body_bytes must be at least 1024".into());
    }
    if value.max_concurrent_requests == 0 {
        problem("ingest.max_concurrent_requests must be at least 1".into());
    }
    if value.max_text_chars == 0 {
        problem("ingest.max_text_chars must be at least 1".into());
    }
    if value.wal.is_some() && !value.durable {
        problem("ingest.wal is the log of durable ingest: set durable = true, or remove wal".into());
    }
}

fn check_window(w: &WindowConfig, problem: Problem) {
    if w.size.0.as_millis() < 1000 || !w.size.0.as_millis().is_multiple_of(1000) {
        problem(format!("window size {} must be a whole number of seconds", w.size));
    } else if 86_400_000 % w.size.0.as_millis() != 0 {
        problem(format!("window size {} must divide a day evenly", w.size));
    }
    if w.retention < w.size {
        problem(format!("window retention {} is shorter than its size {}", w.retention, w.size));
    }
}

fn check_redis(r: &RedisConfig, problem: Problem) {
    if let Err(e) = r.endpoint() {
        problem(e);
    }
    if r.queue == 0 || r.stream_maxlen == 0 {
        problem("redis.queue and redis.stream_maxlen must be at least 1".into());
    }
}

fn check_alertmanager(a: &AlertmanagerConfig, problem: Problem) {
    if !is_http_url(&a.url) {
        problem(format!("alertmanager.url `{}` must start with http:// or https://", a.url));
    }
    if a.resend.as_ms() < 1000 {
        problem("alertmanager.resend must be at least 1s".into());
    }
}

fn check_cluster(c: &ClusterConfig, problem: Problem) {
    for (name, value) in
        [("similarity", c.similarity), ("merge_similarity", c.merge_similarity), ("novelty", c.novelty)]
    {
        if !(value > 0.0 && value < 1.0) {
            problem(format!("cluster.{name} must lie strictly between 0 and 1"));
        }
    }
    if c.merge_similarity < c.similarity {
        problem("cluster.merge_similarity must be at least cluster.similarity".into());
    }
    if c.max_clusters < 2 {
        problem("cluster.max_clusters must be at least 2".into());
    }
    if c.idle_expiry.as_ms() < 1000 {
        problem("cluster.idle_expiry must be at least 1s".into());
    }
    if c.whitening_sample == 1 {
        problem("cluster.whitening_sample must be 0 (off) or at least 2: one message has no covariance".into());
    }
}

fn check_risk(r: &RiskConfig, name_used_before: bool, problem: Problem) {
    if r.name.trim().is_empty() {
        problem("name is empty".into());
    }
    if name_used_before {
        problem("name used twice".into());
    }
    if r.keywords.is_empty() && r.regex.is_empty() && r.categories.is_empty() && r.sentiment_below.is_none() {
        problem("needs at least one of keywords, regex, categories, sentiment_below".into());
    }
    for pattern in &r.regex {
        if let Err(e) = regex::Regex::new(pattern) {
            problem(format!("bad regex `{pattern}`: {e}"));
        }
    }
    if r.sentiment_below.is_some_and(|s| !(-1.0..=1.0).contains(&s)) {
        problem("sentiment_below must lie in [-1, 1]".into());
    }
    if r.keywords.iter().any(|k| k.trim().is_empty()) {
        problem("empty keyword".into());
    }
}

fn check_webhook(w: &WebhookConfig, problem: Problem) {
    if !is_http_url(&w.url) {
        problem(format!("url `{}` must start with http:// or https://", w.url));
    }
    for (label, re) in &w.match_re {
        if let Err(e) = regex::Regex::new(&format!("^(?:{re})$")) {
            problem(format!("match_re.{label}: {e}"));
        }
    }
    if let Some(var) = &w.secret_env {
        if std::env::var(var).map_or(true, |v| v.is_empty()) {
            problem(format!("secret_env `{var}` is not set in the environment"));
        }
    }
    if w.queue == 0 || w.max_attempts == 0 {
        problem("queue and max_attempts must be at least 1".into());
    }
    if w.timeout.as_ms() < 100 {
        problem("timeout must be at least 100ms".into());
    }
}

/// What a rule is checked against: the dataflow and the rules before it.
struct RuleContext<'a> {
    sizes: &'a BTreeSet<HumanDuration>,
    dataflow: &'a Dataflow,
    earlier: &'a [RuleFile],
}

fn check_rule(r: &RuleFile, cx: &RuleContext<'_>, problem: Problem) {
    if cx.earlier.iter().any(|o| o.name == r.name) {
        problem("name used twice".into());
    }
    if r.window.is_none() && r.kind != RuleTag::DayOverDay {
        problem("needs `window`".into());
    }
    if r.kind.has_key() {
        match r.key.as_ref().map(KeySpec::key) {
            None => problem("needs `key` (category, channel, campaign, business, overall, cluster, or a list of 2 or 3 of category, channel, campaign and business)".into()),
            Some(Err(e)) => problem(format!("key: {e}")),
            Some(Ok(_)) => {}
        }
    }
    let calendar = cx.dataflow.calendar();
    if r.kind.is_windowed() && r.window().as_ms() % 86_400_000 == 0 && !calendar.steady() {
        problem(format!(
            "{} windows start at local midnight of {}, whose days are not all 24 hours long; judge days with a day_over_day rule",
            r.window(),
            calendar.name()
        ));
    }
    if r.kind.is_windowed() {
        if !cx.sizes.contains(&r.window()) && !cx.dataflow.windows.is_empty() {
            let known: Vec<_> = cx.sizes.iter().map(|s| s.to_string()).collect();
            problem(format!("window {} is not a dataflow window (have {})", r.window(), known.join(", ")));
        }
        if r.sensitivity.is_nan() || r.sensitivity <= 0.0 {
            problem("sensitivity must be > 0".into());
        }
    } else if !matches!(r.kind, RuleTag::DayOverDay | RuleTag::Threshold) {
        if r.key.is_some() || r.baseline.is_some() || r.metric.is_some() || r.threshold.is_some() {
            problem(format!("`key`, `baseline`, `metric` and `threshold` do not apply to {} rules", r.kind.as_str()));
        }
        if r.window().as_ms() < 1000 {
            problem("window must be at least 1s".into());
        }
    }
    if r.min_count == 0 {
        problem("min_count must be at least 1".into());
    }
    if r.history == 0 || r.min_history == 0 || r.min_history > r.history {
        problem("need 1 <= min_history <= history".into());
    }
    match r.kind {
        RuleTag::HighRisk => {
            for name in r.only.iter().flatten() {
                if !cx.dataflow.risks.iter().any(|(_, _, k)| &k.name == name) {
                    problem(format!("`only` names risk `{name}`, which no [[risk]] defines"));
                }
            }
        }
        RuleTag::NewCluster => {
            if cx.dataflow.cluster.is_none() {
                problem("new_cluster rules need a [cluster] table in the dataflow configuration".into());
            }
            if cx.earlier.iter().any(|o| o.kind == RuleTag::NewCluster) {
                problem("only one new_cluster rule may be defined".into());
            }
            if r.min_count < 2 {
                problem("min_count of a new_cluster rule must be at least 2".into());
            }
        }
        RuleTag::DayOverDay => check_day_over_day(r, cx, problem),
        RuleTag::Spike => super::rule_checks::check_spike_rule(r, problem),
        RuleTag::SentimentDip => super::rule_checks::check_dip_rule(r, problem),
        RuleTag::Handoff => problem("hand-offs are configured with [[escalation]] tables, not a [[rule]]".into()),
        RuleTag::Threshold => {
            let tickets = cx.dataflow.tickets.as_ref().map(|(_, _, t)| t.clone()).unwrap_or_default();
            super::threshold::check(r, &tickets.sizes(cx.sizes.iter().copied()), problem)
        }
        RuleTag::SlaBreach => problem("SLA breaches are configured with [[tickets.sla]] tables, not a [[rule]]".into()),
        RuleTag::QaViolation => problem("QA violations are configured with [[qa]] tables, not a [[rule]]".into()),
    }
    if r.kind != RuleTag::Threshold && (r.above.is_some() || r.below.is_some() || r.for_.is_some()) {
        problem("`above`, `below` and `for` apply to threshold rules only".into());
    }
    match (r.key.as_ref().map(KeySpec::key), r.kind) {
        (Some(Ok(key)), kind)
            if kind != RuleTag::Threshold && key.dims().any(|d| matches!(d, Dimension::Agent | Dimension::Team)) =>
        {
            problem(format!("key {}: only threshold rules watch agents and teams (KPIs)", key.name()))
        }
        _ => {}
    }
    if matches!(r.metric, Some(super::MetricField::Kpi(_))) && r.kind != RuleTag::Threshold {
        problem("metric: a ticket KPI applies to threshold rules only".into());
    }
    if Severity::parse(&r.severity).is_none() {
        problem(format!("severity `{}` must be critical, warning or info", r.severity));
    }
}

/// One alerts file's `[[escalation]]` and `[[qa]]` tables, each checked, into the lists of all
/// files (`at` gives a table's line).
fn absorb_conversation_tables(
    file: &str,
    at: impl Fn(std::ops::Range<usize>) -> usize,
    escalation: Vec<toml::Spanned<Escalation>>,
    qa: Vec<toml::Spanned<QaSheet>>,
    risks: &[String],
    (escalations, sheets): (&mut Vec<Escalation>, &mut Vec<QaSheet>),
    report: &mut Report,
) {
    for spanned in escalation {
        let (line, e) = (at(spanned.span()), spanned.into_inner());
        let twice = escalations.iter().any(|o| o.name == e.name).then(|| "name used twice".to_string());
        for m in e.check(risks).into_iter().chain(twice) {
            report.at(file, line, format!("escalation `{}`: {m}", e.name));
        }
        escalations.push(e);
    }
    for spanned in qa {
        let (line, q) = (at(spanned.span()), spanned.into_inner());
        let twice = sheets.iter().any(|o| o.name == q.name).then(|| "name used twice".to_string());
        let problems = problems_of(|p| q.check(p)).into_iter().chain(twice);
        problems.for_each(|m| report.at(file, line, format!("qa `{}`: {m}", q.name)));
        sheets.push(q);
    }
}

/// What only a day-over-day rule has, and what it needs of the dataflow: an hour window kept
/// for the period and the day before it, and a zone whose offsets are whole hours.
fn check_day_over_day(r: &RuleFile, cx: &RuleContext<'_>, problem: Problem) {
    if r.window.is_some_and(|w| w != DOD_WINDOW) {
        problem("a day_over_day rule sums the `1h` windows; leave `window` out or set it to \"1h\"".into());
    }
    let period_days = match r.period.map(|p| p.as_ms()) {
        None => 1,
        Some(ms) if ms > 0 && ms % 86_400_000 == 0 => ms / 86_400_000,
        Some(_) => {
            problem("period must be a whole number of days (1d, 7d)".into());
            1
        }
    };
    let needed_ms = (period_days + 1) * 86_400_000;
    match cx.dataflow.windows.iter().find(|(_, _, w)| w.size == DOD_WINDOW) {
        None => problem("day_over_day rules need a `1h` [[window]] in the dataflow".into()),
        Some((file, line, w)) if w.retention.as_ms() < needed_ms => problem(format!(
            "the `1h` window ({file}:{line}) keeps {}, but comparing with {period_days} day(s) earlier needs at least {}",
            w.retention,
            HumanDuration(std::time::Duration::from_millis(needed_ms as u64))
        )),
        Some(_) => {}
    }
    match r.calendar(&cx.dataflow.calendar()) {
        Err(e) => problem(format!("timezone: {e}")),
        Ok(c) if !c.whole_hours() => problem(format!(
            "timezone `{}` is not a whole number of hours from UTC; day-over-day sums hour windows",
            c.name()
        )),
        Ok(_) => {}
    }
    match r.min_change {
        None => problem("day_over_day rules need `min_change` (0.5: +50 %; negative watches drops)".into()),
        Some(c) if !c.is_finite() || c == 0.0 => problem("min_change must be a non-zero number".into()),
        Some(c) if c <= -1.0 && r.known_metric() != Some(Metric::Mean) => {
            problem("min_change must be above -1 (a drop of more than 100 % cannot happen)".into())
        }
        Some(_) => {}
    }
    if r.significance.is_some_and(|p| !(p > 0.0 && p <= 0.5)) {
        problem("significance must lie in (0, 0.5]".into());
    }
    super::rule_checks::refuse_spike_options(r, problem);
}

impl Config {
    /// Merges and validates dataflow and alert files. Single-valued tables (`[ingest]` …) may be
    /// given once; lists (`[[window]]`, `[[category]]`, `[[rule]]`) are concatenated.
    pub fn from_sources(flows: Vec<Source>, alerts: Vec<Source>) -> Result<Config, ConfigErrors> {
        let mut report = Report::default();
        let mut dataflow = Dataflow::default();
        let mut unreadable = false;
        for source in &flows {
            match parse::<DataflowFile>(source, &mut report) {
                Some(file) => dataflow.absorb(source, file, &mut report),
                None => unreadable = true,
            }
        }
        if unreadable {
            // What the unreadable file holds is unknown: checking the rest against it would
            // only add follow-on errors ("missing [ingest]"). The alert files' syntax still counts.
            for source in &alerts {
                let _ = parse::<AlertsFile>(source, &mut report);
            }
            return Err(ConfigErrors(report.0));
        }
        let sizes = dataflow.window_sizes(&flows, &mut report);
        if let Some((file, at, t)) = &dataflow.tickets {
            let known: Vec<HumanDuration> = sizes.iter().copied().collect();
            super::tickets::check_tickets(t, &known, &mut |m| report.at(file, *at, format!("tickets.{m}")));
        }
        let mut rules: Vec<RuleFile> = Vec::new();
        let mut webhooks: Vec<WebhookConfig> = Vec::new();
        let mut summarizer: Option<(String, usize, SummarizerConfig)> = None;
        let mut reports: Vec<(String, usize, super::ReportConfig)> = Vec::new();
        let mut escalations: Vec<Escalation> = Vec::new();
        let mut sheets: Vec<QaSheet> = Vec::new();
        let risks: Vec<String> = dataflow.risks.iter().map(|(_, _, r)| r.name.clone()).collect();
        for source in &alerts {
            let Some(file) = parse::<AlertsFile>(source, &mut report) else { continue };
            if let Some(spanned) = file.summarizer {
                let at = line_of(&source.text, spanned.span().start);
                let s = spanned.into_inner();
                super::summarizer::check(&s, &mut |m| report.at(&source.name, at, format!("summarizer: {m}")));
                if summarizer.is_some() {
                    report.at(&source.name, at, "[summarizer] is defined twice".into());
                }
                summarizer = Some((source.name.clone(), at, s));
            }
            for spanned in file.report {
                let at = line_of(&source.text, spanned.span().start);
                reports.push((source.name.clone(), at, spanned.into_inner()));
            }
            let (people, at) =
                ((&mut escalations, &mut sheets), |span: std::ops::Range<usize>| line_of(&source.text, span.start));
            absorb_conversation_tables(&source.name, at, file.escalation, file.qa, &risks, people, &mut report);
            for spanned in file.webhook {
                let at = line_of(&source.text, spanned.span().start);
                let w = spanned.into_inner();
                let mut problem = |m: String| report.at(&source.name, at, format!("webhook `{}`: {m}", w.name));
                if webhooks.iter().any(|o| o.name == w.name) {
                    problem("name used twice".into());
                }
                check_webhook(&w, &mut problem);
                webhooks.push(w);
            }
            for spanned in file.rule {
                let at = line_of(&source.text, spanned.span().start);
                let r = spanned.into_inner();
                let cx = RuleContext { sizes: &sizes, dataflow: &dataflow, earlier: &rules };
                check_rule(&r, &cx, &mut |m| report.at(&source.name, at, format!("rule `{}`: {m}", r.name)));
                rules.push(r);
            }
        }
        if let Some((file, at, s)) = &summarizer {
            for name in s.rules.iter().filter(|n| !rules.iter().any(|r| &r.name == *n)) {
                report.at(file, *at, format!("summarizer: rules names `{name}`, which no rule is"));
            }
        }
        dataflow.cross_check(&flows, &mut report);
        let calendar = dataflow.calendar();
        let hourly = sizes.iter().any(|s| s.as_secs() == 3600) || flows.is_empty();
        let schedules = check_reports(&reports, &webhooks, hourly, &calendar, &mut report);
        let slas = dataflow.tickets.as_ref().is_some_and(|(_, _, t)| !t.sla.is_empty());
        let made = [
            (!escalations.is_empty(), HANDOFF_RULE, "[[escalation]]"),
            (slas, SLA_RULE, "[[tickets.sla]]"),
            (!sheets.is_empty(), QA_RULE, "[[qa]]"),
        ];
        for (_, name, tables) in
            made.into_iter().filter(|(made, name, _)| *made && rules.iter().any(|r| &r.name == name))
        {
            report.at("alerts", 0, format!("rule `{name}`: the name is the {tables} tables' rule"));
        }
        if !report.0.is_empty() {
            return Err(ConfigErrors(report.0));
        }
        let mut rules: Vec<RuleConfig> = rules.into_iter().map(|r| r.into_rule(&calendar)).collect();
        rules.extend(dataflow.made_rules(escalations, !sheets.is_empty()));
        let mut config = dataflow.into_config(rules, webhooks, summarizer.map(|(_, _, s)| s), schedules);
        config.qa = sheets;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_errors_without_a_message_of_their_own_still_say_what_and_where() {
        // A control character in a comment: the toml crate's own message is empty.
        let text = "# a comment with \u{1b} in it\n";
        let mut report = Report::default();
        let parsed: Option<toml::Value> = parse(&Source { name: "f.toml".into(), text: text.into() }, &mut report);
        assert!(parsed.is_none());
        assert_eq!(report.0[0].message, "invalid TOML at column 18: unexpected '\\u{1b}'");
    }

    #[test]
    fn a_write_ahead_log_needs_durable_ingest_and_no_redis() {
        let flow = crate::config::DEFAULT_DATAFLOW.replacen("[ingest]\n", "[ingest]\nwal = \"/var/lib/fp\"\n", 1)
            + "\n[redis]\nurl = \"127.0.0.1:6379\"\n";
        let flows = vec![Source { name: "dataflows/x.toml".into(), text: flow }];
        let errors = Config::from_sources(flows, Vec::new()).unwrap_err().0;
        let said: Vec<&str> = errors.iter().map(|e| e.message.as_str()).collect();
        assert!(said.iter().any(|m| m.contains("set durable = true")), "{said:?}");
        assert!(said.iter().any(|m| m.contains("without Redis")), "both at once: {said:?}");
    }

    #[test]
    fn an_unreadable_dataflow_file_is_reported_without_follow_on_errors() {
        let flows = vec![Source { name: "dataflows/x.toml".into(), text: "[ingest\n".into() }];
        let alerts = vec![Source { name: "alerts/x.toml".into(), text: "[[rule]\n".into() }];
        let errors = Config::from_sources(flows, alerts).unwrap_err().0;
        let files: Vec<&str> = errors.iter().map(|e| e.file.as_str()).collect();
        assert_eq!(files, ["dataflows/x.toml", "alerts/x.toml"], "one syntax error each, nothing else: {errors:?}");
    }
}
