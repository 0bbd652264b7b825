//! The demo: the bundled day replayed in compressed time, alerts printed for people.

use super::pipeline::PipelineArgs;
use super::serve::{self, ServeOptions};
use crate::admit::{Admission, Admitted};
use crate::alerts::{Alert, AlertStatus, Timestamp};
use crate::feed::FeedSender;
use crate::sinks::{AlertSink, Fanout};
use crate::telemetry::{Metrics, SourceKind};
use crate::util::calendar::Calendar;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

#[derive(Clone)]
pub struct DemoOptions {
    pub speed: f64,
    pub seed: u64,
    /// Stop when the day is replayed instead of keeping the dashboard up until Ctrl-C.
    pub exit_when_done: bool,
    /// The zone of the demo's day (its dataflow's calendar): times are printed in it.
    pub calendar: Calendar,
}

/// The zone of the demo day when the embedded configuration runs it: most feedback the product
/// watches is written in China.
pub const DEMO_TIMEZONE: &str = "Asia/Shanghai";

/// Prints alerts for people (the demo), marking whether the window was still open; times are
/// local clock times of the demo's zone.
pub(crate) struct ConsoleAlerts(pub Calendar);

impl AlertSink for ConsoleAlerts {
    fn deliver(&self, a: &Alert) {
        const SHOWN: [&str; 13] = [
            "conversation",
            "check",
            "priority",
            "ticket",
            "sla",
            "agent",
            "cluster",
            "risk",
            "business",
            "category",
            "channel",
            "campaign",
            "overall",
        ];
        let key: Vec<String> = SHOWN.iter().filter_map(|k| a.labels.get(*k).map(|v| format!("{k}={v}"))).collect();
        let hhmmss = |t: Timestamp| {
            let s = self.0.since_midnight(t.ms().div_euclid(1000));
            format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
        };
        match a.status {
            AlertStatus::Firing => {
                let open = if a.starts_at < a.window.end { "window still open" } else { "after window close" };
                say!(
                    "[{}] FIRING   {:<13} {:<22} window {}–{} ({open})\n           {}",
                    hhmmss(a.starts_at),
                    a.rule,
                    key.join(","),
                    hhmmss(a.window.start),
                    hhmmss(a.window.end),
                    a.summary
                );
                if !a.explanation.keywords.is_empty() {
                    say!("           keywords: {}", a.explanation.keywords.join(" · "));
                }
                for s in &a.explanation.samples {
                    say!("           e.g. “{s}”");
                }
            }
            AlertStatus::Resolved => say!(
                "[{}] RESOLVED {:<13} {:<22} last anomalous window {}–{}",
                a.ends_at.map_or(String::new(), hhmmss),
                a.rule,
                key.join(","),
                hhmmss(a.window.start),
                hhmmss(a.window.end)
            ),
        }
    }
}

/// Replays the demo day in compressed time: event time advances `speed` times faster than the
/// wall clock. Records go through the same admission as HTTP input.
pub(crate) fn play_demo(
    demo: &DemoOptions,
    tx: &FeedSender,
    admission: &Admission,
    metrics: &Metrics,
    outputs: &Fanout,
    stopping: &AtomicBool,
) {
    let (speed, calendar) = (demo.speed, &demo.calendar);
    let day_start = crate::demo::yesterday_midnight_ms(calendar);
    let records = crate::demo::generate(day_start, demo.seed);
    say!(
        "demo: replaying {} records of {} at {speed}× (a day in {:.0} s)",
        records.len(),
        calendar.date_name(day_start / 1000),
        86_400.0 / speed
    );
    // Admission (the sentence encoder above all) runs ahead of the clock on every core, in
    // batches of CHUNK records; the player below only waits for a chunk when it falls due.
    const CHUNK: usize = 128;
    let chunks: Vec<&[(i64, String)]> = records.chunks(CHUNK).collect();
    let slots: Vec<std::sync::Mutex<Option<Vec<Admitted>>>> =
        chunks.iter().map(|_| std::sync::Mutex::new(None)).collect();
    let next_chunk = std::sync::atomic::AtomicUsize::new(0);
    let quit = AtomicBool::new(false);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()).max(2);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let i = next_chunk.fetch_add(1, Ordering::Relaxed);
                if i >= chunks.len() || stopping.load(Ordering::Relaxed) || quit.load(Ordering::Relaxed) {
                    return;
                }
                let lines: Vec<&[u8]> = chunks[i].iter().map(|(_, l)| l.as_bytes()).collect();
                let admitted =
                    admission.admit_batch(&lines, chrono::Utc::now().timestamp_millis(), "demo").into_results();
                *slots[i].lock().unwrap() = Some(admitted);
            });
        }
        let started = Instant::now();
        let mut admitted = Vec::new().into_iter();
        let mut next = 0;
        'play: while next < records.len() && !stopping.load(Ordering::Relaxed) {
            let due_ms = day_start + (started.elapsed().as_secs_f64() * 1000.0 * speed) as i64;
            let mut batch = Vec::new();
            while next < records.len() && records[next].0 <= due_ms {
                if next % CHUNK == 0 {
                    // The admission threads stop on `stopping` too: a chunk they abandoned
                    // never arrives, so waiting for it must end there as well.
                    admitted = loop {
                        if let Some(chunk) = slots[next / CHUNK].lock().unwrap().take() {
                            break chunk.into_iter();
                        }
                        if stopping.load(Ordering::Relaxed) {
                            break 'play;
                        }
                        std::thread::sleep(Duration::from_millis(1));
                    };
                }
                metrics.received(SourceKind::Demo, 1);
                match admitted.next().expect("one result per record") {
                    Ok(ev) => batch.push(ev),
                    Err(dead) => outputs.dead_letter(&dead),
                }
                next += 1;
            }
            if !batch.is_empty() && tx.send(batch).is_err() {
                break;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        quit.store(true, Ordering::Relaxed);
    });
}

/// `feedpulse demo`.
#[derive(clap::Args)]
pub struct DemoArgs {
    /// How much faster than real time the day is replayed (1440 = a day per minute).
    #[arg(long, default_value_t = 1440.0)]
    pub speed: f64,
    #[arg(long, default_value_t = 11)]
    pub seed: u64,
    /// HTTP address (a free port is used if it is taken).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,
    /// Stop when the day is replayed (default: keep serving the dashboard until Ctrl-C).
    #[arg(long)]
    pub exit_when_done: bool,
    #[command(flatten)]
    pub pipeline: PipelineArgs,
}

impl DemoArgs {
    pub fn run(self) -> anyhow::Result<()> {
        if self.speed.is_nan() || self.speed <= 0.0 {
            anyhow::bail!("--speed must be positive");
        }
        let pipeline = self.pipeline.into_options_in(Some(DEMO_TIMEZONE))?;
        let calendar = pipeline.config.calendar.clone();
        let options = ServeOptions {
            listen: self.listen,
            listen_fallback: true,
            alerts_out: None,
            alerts_stdout: false,
            dead_letters: None,
            demo: Some(DemoOptions {
                speed: self.speed,
                seed: self.seed,
                exit_when_done: self.exit_when_done,
                calendar,
            }),
            // The demo's data is synthetic: open, as on loopback.
            access: Default::default(),
        };
        serve::serve(pipeline, options)
    }
}
