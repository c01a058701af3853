//! LATENCY: the node's latency monitor (Redis's `latency.c`) and the per-command latency
//! histograms behind LATENCY HISTOGRAM and INFO `latencystats`.
//!
//! Both are this node's own observations, never replicated: every node of a shared log keeps
//! its own, as each Redis server does.
//!
//! - The monitor keeps, per event, the last 160 samples (one per second at most, the worst of
//!   that second) of operations that took at least `latency-monitor-threshold` milliseconds
//!   (0 = off). Cairn produces the events it can measure honestly: `command` and
//!   `fast-command` (a command's execution time, as `calls` measures it), and `expire-cycle`
//!   (applying an expiry tick entry on this node).
//! - A histogram per command (`stats::CmdStat::latency`) counts every call's execution time in
//!   the layout of Redis's HdrHistogram (1 ns to 1 s, two significant digits), so LATENCY
//!   HISTOGRAM's buckets and INFO's percentiles come out as Redis computes them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::{Mutex, OnceLock};

use bytes::Bytes;
use cairn_engine::commands::eq_ignore_case;
use cairn_engine::{Spec, table};
use cairn_resp::Reply;

use crate::config::Config;
use crate::stats::COMMAND_STATS;

// ---------------------------------------------------------------------------------------------
// Per-command histograms (HdrHistogram's layout, as Redis configures it)

/// Recorded values are nanoseconds, clamped to 1 ns ..= 1 s (Redis's
/// `LATENCY_HISTOGRAM_MIN_VALUE`/`MAX_VALUE`).
const HIST_MAX_NS: u64 = 1_000_000_000;
/// Two significant digits: 256 sub-buckets per bucket, the upper half of each bucket past the
/// first (values below 256 are exact).
const SUB_BUCKET_HALF_MAGNITUDE: u32 = 7;
const SUB_BUCKET_HALF: usize = 1 << SUB_BUCKET_HALF_MAGNITUDE;
/// Buckets needed so that `256 << (n - 1)` exceeds HIST_MAX_NS.
const BUCKETS: usize = 23;
/// Counters of one histogram (HdrHistogram's `counts_len`).
const COUNTS: usize = (BUCKETS + 1) * SUB_BUCKET_HALF;
/// LATENCY HISTOGRAM's first reported bucket (ns) and its growth factor (Redis's
/// `hdr_iter_log_init(&iter, h, 1024, 2)`).
const FIRST_REPORT_NS: u64 = 1024;

/// Whether calls are counted in the histograms (`latency-tracking`).
static TRACKING: AtomicBool = AtomicBool::new(true);

pub fn tracking() -> bool {
    TRACKING.load(Relaxed)
}

/// A command's latency distribution. Its counters are allocated at its first call (24 KiB,
/// as Redis's), so commands never called cost one pointer.
#[derive(Default)]
pub struct Histogram {
    counts: OnceLock<Box<[AtomicU64]>>,
    total: AtomicU64,
}

/// (bucket, sub-bucket) of a value, HdrHistogram's way.
fn bucket_of(value: u64) -> (u32, u64) {
    let bucket = (64 - (value | 0xff).leading_zeros()) - (SUB_BUCKET_HALF_MAGNITUDE + 1);
    (bucket, value >> bucket)
}

fn index_of(value: u64) -> usize {
    let (bucket, sub) = bucket_of(value);
    ((bucket as usize + 1) << SUB_BUCKET_HALF_MAGNITUDE) + sub as usize - SUB_BUCKET_HALF
}

/// The lowest value counted at `index`, and the size of its range.
fn range_at(index: usize) -> (u64, u64) {
    let bucket = (index >> SUB_BUCKET_HALF_MAGNITUDE) as i64 - 1;
    let mut sub = ((index & (SUB_BUCKET_HALF - 1)) + SUB_BUCKET_HALF) as u64;
    let bucket = if bucket < 0 {
        sub -= SUB_BUCKET_HALF as u64;
        0
    } else {
        bucket as u32
    };
    (sub << bucket, 1 << bucket)
}

impl Histogram {
    /// Counts one call of `usec` microseconds.
    pub fn record(&self, usec: u64) {
        let ns = usec.saturating_mul(1000).clamp(1, HIST_MAX_NS);
        let counts = self
            .counts
            .get_or_init(|| (0..COUNTS).map(|_| AtomicU64::new(0)).collect());
        counts[index_of(ns)].fetch_add(1, Relaxed);
        self.total.fetch_add(1, Relaxed);
    }

    pub fn calls(&self) -> u64 {
        self.total.load(Relaxed)
    }

    pub fn reset(&self) {
        if let Some(counts) = self.counts.get() {
            counts.iter().for_each(|c| c.store(0, Relaxed));
        }
        self.total.store(0, Relaxed);
    }

    fn counts(&self) -> impl Iterator<Item = u64> + '_ {
        self.counts
            .get()
            .into_iter()
            .flat_map(|c| c.iter().map(|n| n.load(Relaxed)))
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: for buckets of 1024 ns doubling up to 1 s, the
    /// calls at or below each (cumulative), listed where the count grows. Each bucket is named
    /// by the highest value its last counter holds, in µs (1, 2, 4, 8, 16, 33, 66, …).
    fn cumulative_usec(&self) -> Vec<(i64, i64)> {
        let total = self.calls();
        let counts: Vec<u64> = self.counts().collect();
        let mut out = Vec::new();
        let (mut cumulative, mut index, mut level) = (0u64, 0usize, FIRST_REPORT_NS);
        while cumulative < total && index < counts.len() {
            // The last level lies past the counters (1 s is below it): it is named by the
            // last counter, as Redis's iterator names it.
            let last = index_of(level).min(counts.len() - 1);
            while index <= last {
                cumulative += counts[index];
                index += 1;
            }
            if cumulative > out.last().map_or(0, |&(_, n)| n as u64) {
                let (lowest, size) = range_at(last);
                out.push((((lowest + size - 1) / 1000) as i64, cumulative as i64));
            }
            level *= 2;
        }
        out
    }

    /// The value at `percentile` in µs, as Redis's `hdr_value_at_percentile` / 1000.
    fn percentile_usec(&self, percentile: f64) -> f64 {
        let total = self.calls();
        let wanted = ((percentile.min(100.0) / 100.0 * total as f64) + 0.5) as u64;
        let wanted = wanted.max(1);
        let mut cumulative = 0;
        let mut value = 0;
        for (index, n) in self.counts().enumerate() {
            cumulative += n;
            if cumulative >= wanted {
                let (lowest, size) = range_at(index);
                value = if percentile == 0.0 {
                    lowest
                } else {
                    lowest + size - 1
                };
                break;
            }
        }
        value as f64 / 1000.0
    }

    fn reply(&self) -> Reply {
        let buckets = self
            .cumulative_usec()
            .into_iter()
            .map(|(usec, n)| (Reply::Int(usec), Reply::Int(n)))
            .collect();
        Reply::Map(vec![
            (Reply::bulk_copy(b"calls"), Reply::Int(self.calls() as i64)),
            (Reply::bulk_copy(b"histogram_usec"), Reply::Map(buckets)),
        ])
    }
}

// ---------------------------------------------------------------------------------------------
// The latency monitor

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
const SERIES_LEN: usize = 160;

#[derive(Clone, Copy, Default)]
struct Sample {
    /// Unix seconds; 0 = empty slot.
    time_s: u64,
    latency_ms: u64,
}

struct Series {
    samples: [Sample; SERIES_LEN],
    /// Where the next sample goes.
    next: usize,
    max_ms: u64,
}

impl Series {
    fn new() -> Series {
        Series {
            samples: [Sample::default(); SERIES_LEN],
            next: 0,
            max_ms: 0,
        }
    }

    fn add(&mut self, time_s: u64, latency_ms: u64) {
        self.max_ms = self.max_ms.max(latency_ms);
        let prev = &mut self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN];
        // One sample per second: the worst of that second.
        if prev.time_s == time_s {
            prev.latency_ms = prev.latency_ms.max(latency_ms);
            return;
        }
        self.samples[self.next] = Sample { time_s, latency_ms };
        self.next = (self.next + 1) % SERIES_LEN;
    }

    fn last(&self) -> Sample {
        self.samples[(self.next + SERIES_LEN - 1) % SERIES_LEN]
    }

    /// Samples oldest first.
    fn samples(&self) -> impl Iterator<Item = Sample> + '_ {
        (0..SERIES_LEN)
            .map(|j| self.samples[(self.next + j) % SERIES_LEN])
            .filter(|s| s.time_s != 0)
    }
}

/// The node's latency monitor: `latency-monitor-threshold` and the events' samples.
pub struct LatencyMonitor {
    threshold_ms: AtomicU64,
    /// Events by name. Taken only when a sample is added (rare: operations over the
    /// threshold) and by LATENCY.
    events: Mutex<BTreeMap<&'static str, Series>>,
}

impl LatencyMonitor {
    pub fn new(config: &Config) -> LatencyMonitor {
        let monitor = LatencyMonitor {
            threshold_ms: AtomicU64::new(0),
            events: Mutex::new(BTreeMap::new()),
        };
        monitor.configure(config);
        monitor
    }

    /// Takes the monitor's options (at start and after CONFIG SET).
    pub fn configure(&self, config: &Config) {
        self.threshold_ms
            .store(config.latency_monitor_threshold_ms, Relaxed);
        TRACKING.store(config.latency_tracking, Relaxed);
    }

    /// Records that `event` took `latency_ms`, if the monitor is on and that reaches its
    /// threshold (Redis's `latencyAddSampleIfNeeded`).
    pub fn sample(&self, event: &'static str, latency_ms: u64) {
        let threshold = self.threshold_ms.load(Relaxed);
        if threshold == 0 || latency_ms < threshold {
            return;
        }
        let now = crate::node::unix_ms() / 1000;
        self.events
            .lock()
            .expect("latency lock")
            .entry(event)
            .or_insert_with(Series::new)
            .add(now, latency_ms);
    }

    fn reset(&self, event: Option<&[u8]>) -> i64 {
        let mut events = self.events.lock().expect("latency lock");
        let before = events.len();
        events.retain(|name, _| event.is_some_and(|e| !eq_ignore_case(e, name)));
        (before - events.len()) as i64
    }
}

// ---------------------------------------------------------------------------------------------
// LATENCY

/// LATENCY's subcommands (the table has checked each one's arity).
pub fn command(s: &crate::session::Session, argv: &[Bytes]) -> Reply {
    let monitor = &s.shared.latency;
    let sub = String::from_utf8_lossy(&argv[1]).to_ascii_lowercase();
    match sub.as_str() {
        "latest" => latest(monitor),
        "history" => history(monitor, &argv[2]),
        "reset" if argv.len() == 2 => Reply::Int(monitor.reset(None)),
        "reset" => Reply::Int(argv[2..].iter().map(|e| monitor.reset(Some(e))).sum()),
        "graph" => graph(monitor, &argv[2]),
        "doctor" => {
            let config = s.shared.config.read().expect("config lock");
            Reply::Verbatim("txt", Bytes::from(doctor(monitor, &config)))
        }
        "histogram" => histogram(&argv[2..]),
        _ => crate::commands::help("LATENCY", HELP),
    }
}

fn latest(monitor: &LatencyMonitor) -> Reply {
    let events = monitor.events.lock().expect("latency lock");
    Reply::Array(
        events
            .iter()
            .map(|(name, series)| {
                let last = series.last();
                Reply::Array(vec![
                    Reply::bulk_copy(name.as_bytes()),
                    Reply::Int(last.time_s as i64),
                    Reply::Int(last.latency_ms as i64),
                    Reply::Int(series.max_ms as i64),
                ])
            })
            .collect(),
    )
}

fn history(monitor: &LatencyMonitor, event: &[u8]) -> Reply {
    let events = monitor.events.lock().expect("latency lock");
    let Some(series) = events
        .iter()
        .find(|(n, _)| n.as_bytes() == event)
        .map(|e| e.1)
    else {
        return Reply::Array(Vec::new());
    };
    Reply::Array(
        series
            .samples()
            .map(|s| {
                Reply::Array(vec![
                    Reply::Int(s.time_s as i64),
                    Reply::Int(s.latency_ms as i64),
                ])
            })
            .collect(),
    )
}

/// LATENCY HISTOGRAM [command ...]: every command with calls, or the ones named (a container
/// stands for its subcommands; unknown names are skipped).
fn histogram(names: &[Bytes]) -> Reply {
    let mut out = Vec::new();
    let mut add = |spec: &'static Spec, full: String| {
        if let Some(stat) = COMMAND_STATS.get(spec)
            && stat.latency.calls() > 0
        {
            out.push((Reply::Bulk(Bytes::from(full)), stat.latency.reply()));
        }
    };
    let with_subs = |spec: &'static Spec, add: &mut dyn FnMut(&'static Spec, String)| {
        add(spec, spec.name.to_string());
        for sub in spec.subcommands {
            add(sub, format!("{}|{}", spec.name, sub.name));
        }
    };
    if names.is_empty() {
        for spec in table::commands() {
            with_subs(spec, &mut add);
        }
    }
    for name in names {
        let mut parts = name.split(|&b| b == b'|');
        let (base, sub) = (parts.next().unwrap_or_default(), parts.next());
        if parts.next().is_some() {
            continue;
        }
        let Some(spec) = table::lookup(base) else {
            continue;
        };
        match sub {
            None => with_subs(spec, &mut add),
            Some(sub) => {
                if let Some(row) = table::lookup_sub(spec, sub) {
                    add(row, format!("{}|{}", spec.name, row.name));
                }
            }
        }
    }
    Reply::Map(out)
}

const HELP: &[&str] = &[
    "DOCTOR",
    "    Return a human readable latency analysis report.",
    "GRAPH <event>",
    "    Return an ASCII latency graph for the <event> class.",
    "HISTORY <event>",
    "    Return time-latency samples for the <event> class.",
    "LATEST",
    "    Return the latest latency samples for all events.",
    "RESET [<event> ...]",
    "    Reset latency data of one or more <event> classes.",
    "    (default: reset all data for all event classes)",
    "HISTOGRAM [COMMAND ...]",
    "    Return a cumulative distribution of latencies in the format of a histogram for the specified command names.",
    "    If no commands are specified then all histograms are replied.",
];

// ---------------------------------------------------------------------------------------------
// LATENCY GRAPH: Redis's sparkline rendering

const GRAPH_COLUMNS: usize = 80;
const GRAPH_ROWS: usize = 4;
/// Characters of a filled sparkline, lowest to highest, within one row.
const FILL: &[u8] = b"_o#";

fn graph(monitor: &LatencyMonitor, event: &[u8]) -> Reply {
    let events = monitor.events.lock().expect("latency lock");
    let Some((name, series)) = events.iter().find(|(n, _)| n.as_bytes() == event) else {
        return Reply::error(format!(
            "ERR No samples available for event '{}'",
            String::from_utf8_lossy(event)
        ));
    };
    let now = crate::node::unix_ms() / 1000;
    let samples: Vec<(u64, String)> = series
        .samples()
        .map(|s| (s.latency_ms, age_label(now.saturating_sub(s.time_s))))
        .collect();
    let (low, high) = samples
        .iter()
        .fold(None, |acc: Option<(u64, u64)>, &(v, _)| {
            Some(acc.map_or((v, v), |(lo, hi)| (lo.min(v), hi.max(v))))
        })
        .unwrap_or((0, 0));
    let mut out = format!(
        "{name} - high {high} ms, low {low} ms (all time high {} ms)\n{}\n",
        series.max_ms,
        "-".repeat(GRAPH_COLUMNS)
    );
    for (i, chunk) in samples.chunks(GRAPH_COLUMNS).enumerate() {
        if i != 0 {
            out.push('\n');
        }
        sparkline(&mut out, chunk, low as f64, high as f64);
    }
    Reply::Verbatim("txt", Bytes::from(out))
}

/// How long ago a sample was taken: seconds, minutes, hours or days.
fn age_label(elapsed_s: u64) -> String {
    match elapsed_s {
        s if s < 60 => format!("{s}s"),
        s if s < 3600 => format!("{}m", s / 60),
        s if s < 86_400 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

/// Renders `samples` (value, label) as GRAPH_ROWS rows of filled sparkline, then their labels
/// written vertically under one blank row.
fn sparkline(out: &mut String, samples: &[(u64, String)], min: f64, max: f64) {
    let steps = FILL.len() * GRAPH_ROWS;
    let range = if max - min == 0.0 { 1.0 } else { max - min };
    let step_of = |value: u64| {
        let step = ((((value as f64 - min) * steps as f64) as i64) as f64 / range) as i64;
        step.clamp(0, steps as i64 - 1)
    };
    for row in 0..GRAPH_ROWS {
        let line: String = samples
            .iter()
            .map(|&(value, _)| {
                let at = step_of(value) - ((GRAPH_ROWS - row - 1) * FILL.len()) as i64;
                if (0..FILL.len() as i64).contains(&at) {
                    FILL[at as usize] as char
                } else if at >= FILL.len() as i64 {
                    '|'
                } else {
                    ' '
                }
            })
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
    let longest = samples.iter().map(|(_, l)| l.len()).max().unwrap_or(0);
    if longest == 0 {
        return;
    }
    out.push_str(&" ".repeat(samples.len()));
    out.push('\n');
    for at in 0..longest {
        let line: String = samples
            .iter()
            .map(|(_, label)| label.as_bytes().get(at).map_or(' ', |&b| b as char))
            .collect();
        out.push_str(&line);
        out.push('\n');
    }
}

// ---------------------------------------------------------------------------------------------
// LATENCY DOCTOR

/// (samples, average, mean deviation, period in seconds) of an event's samples.
fn analyze(series: &Series, now_s: u64) -> (u64, u64, u64, u64) {
    let samples: Vec<Sample> = series.samples().collect();
    if samples.is_empty() {
        return (0, 0, 0, 0);
    }
    let n = samples.len() as u64;
    let avg = samples.iter().map(|s| s.latency_ms).sum::<u64>() / n;
    let mad = samples
        .iter()
        .map(|s| s.latency_ms.abs_diff(avg))
        .sum::<u64>()
        / n;
    let oldest = samples.iter().map(|s| s.time_s).min().unwrap_or(now_s);
    let period = now_s.saturating_sub(oldest).max(1);
    (n, avg, mad, period)
}

/// A human-readable report, in Redis's words, for the events this node produces.
fn doctor(monitor: &LatencyMonitor, config: &Config) -> String {
    let events = monitor.events.lock().expect("latency lock");
    let threshold_ms = config.latency_monitor_threshold_ms;
    if events.is_empty() && threshold_ms == 0 {
        return "I'm sorry, Dave, I can't do that. Latency monitoring is disabled in this Redis instance. You may use \"CONFIG SET latency-monitor-threshold <milliseconds>.\" in order to enable it. If we weren't in a deep space mission I'd suggest to take a look at https://redis.io/topics/latency-monitor.\n".into();
    }
    let now = crate::node::unix_ms() / 1000;
    let mut report = String::new();
    let (mut slowlog_enable, mut slowlog_tune, mut slowlog_inspect) = (false, false, false);
    let (mut scheduler, mut large_objects) = (false, false);
    let mut advices = 0;
    for (i, (name, series)) in events.iter().enumerate() {
        if i == 0 {
            report.push_str("Dave, I have observed latency spikes in this Redis instance. You don't mind talking about it, do you Dave?\n\n");
        }
        let (n, avg, mad, period) = analyze(series, now);
        report.push_str(&format!(
            "{}. {name}: {n} latency spikes (average {avg}ms, mean deviation {mad}ms, period {:.2} sec). Worst all time event {}ms.",
            i + 1,
            period as f64 / n.max(1) as f64,
            series.max_ms
        ));
        match *name {
            "command" => {
                if config.slowlog_log_slower_than_us < 0 {
                    slowlog_enable = true;
                    advices += 1;
                } else if config.slowlog_log_slower_than_us / 1000 > threshold_ms as i64 {
                    slowlog_tune = true;
                    advices += 1;
                }
                slowlog_inspect = true;
                large_objects = true;
                advices += 2;
            }
            "fast-command" => {
                scheduler = true;
                advices += 1;
            }
            "expire-cycle" => {
                large_objects = true;
                advices += 1;
            }
            _ => {}
        }
        report.push('\n');
    }
    let huge_pages = anon_huge_pages_bytes() > 0;
    advices += usize::from(huge_pages);
    if events.is_empty() && advices == 0 {
        report.push_str("Dave, no latency spike was observed during the lifetime of this Redis instance, not in the slightest bit. I honestly think you ought to sit down calmly, take a stress pill, and think things over.\n");
        return report;
    }
    if advices == 0 {
        report.push_str("\nWhile there are latency events logged, I'm not able to suggest any easy fix. Please use the Redis community to get some help, providing this report in your help request.\n");
        return report;
    }
    report.push_str("\nI have a few advices for you:\n\n");
    if slowlog_enable {
        report.push_str(&format!("- There are latency issues with potentially slow commands you are using. Try to enable the Slow Log Redis feature using the command 'CONFIG SET slowlog-log-slower-than {}'. If the Slow log is disabled Redis is not able to log slow commands execution for you.\n", threshold_ms * 1000));
    }
    if slowlog_tune {
        report.push_str(&format!("- Your current Slow Log configuration only logs events that are slower than your configured latency monitor threshold. Please use 'CONFIG SET slowlog-log-slower-than {}'.\n", threshold_ms * 1000));
    }
    if slowlog_inspect {
        report.push_str("- Check your Slow Log to understand what are the commands you are running which are too slow to execute. Please check https://redis.io/commands/slowlog for more information.\n");
    }
    if scheduler {
        report.push_str("- The system is slow to execute Redis code paths not containing system calls. This usually means the system does not provide Redis CPU time to run for long periods. You should try to:\n  1) Lower the system load.\n  2) Use a computer / VM just for Redis if you are running other software in the same system.\n  3) Check if you have a \"noisy neighbour\" problem.\n  4) Check with 'redis-cli --intrinsic-latency 100' what is the intrinsic latency in your system.\n  5) Check if the problem is allocator-related by recompiling Redis with MALLOC=libc, if you are using Jemalloc. However this may create fragmentation problems.\n");
    }
    if large_objects {
        report.push_str("- Deleting, expiring or evicting (because of maxmemory policy) large objects is a blocking operation. If you have very large objects that are often deleted, expired, or evicted, try to fragment those objects into multiple smaller objects.\n");
    }
    if huge_pages {
        report.push_str("- I detected a non zero amount of anonymous huge pages used by your process. This creates very serious latency events in different conditions, especially when Redis is persisting on disk. To disable THP support use the command 'echo never > /sys/kernel/mm/transparent_hugepage/enabled', make sure to also add it into /etc/rc.local so that the command will be executed again after a reboot. Note that even if you have already disabled THP, you still need to restart the Redis process to get rid of the huge pages already created.\n");
    }
    report
}

/// Anonymous huge pages the process uses (Linux; 0 elsewhere), as Redis's doctor checks.
fn anon_huge_pages_bytes() -> u64 {
    let text = std::fs::read_to_string("/proc/self/smaps_rollup").unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("AnonHugePages:"))
        .and_then(|rest| {
            rest.trim()
                .trim_end_matches("kB")
                .trim()
                .parse::<u64>()
                .ok()
        })
        .map_or(0, |kb| kb * 1024)
}

// ---------------------------------------------------------------------------------------------
// INFO latencystats and the percentiles option

/// `# Latencystats`: `latency_percentiles_usec_<command>:p50=…,p99=…,p99.9=…` for every
/// command with calls, when `latency-tracking` is on.
pub fn render_info(out: &mut String, percentiles: &[f64]) {
    out.push_str("# Latencystats\r\n");
    if !tracking() {
        return;
    }
    for spec in table::commands() {
        let rows = std::iter::once((spec, spec.name.to_string())).chain(
            spec.subcommands
                .iter()
                .map(|sub| (sub, format!("{}|{}", spec.name, sub.name))),
        );
        for (row, name) in rows {
            let Some(stat) = COMMAND_STATS.get(row) else {
                continue;
            };
            if stat.latency.calls() == 0 {
                continue;
            }
            let values: Vec<String> = percentiles
                .iter()
                .map(|&p| {
                    format!(
                        "p{}={:.3}",
                        format_percentile(p),
                        stat.latency.percentile_usec(p)
                    )
                })
                .collect();
            out.push_str(&format!(
                "latency_percentiles_usec_{name}:{}\r\n",
                values.join(",")
            ));
        }
    }
}

/// A percentile as Redis prints it (`%f` without trailing zeros): 50, 99.9.
pub fn format_percentile(p: f64) -> String {
    let text = format!("{p:.6}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// `latency-tracking-info-percentiles`: numbers between 0 and 100 separated by spaces; ""
/// is none.
pub fn parse_percentiles(text: &str) -> Result<Vec<f64>, String> {
    text.split_ascii_whitespace()
        .map(|word| match word.parse::<f64>() {
            Ok(p) if !p.is_finite() => {
                Err("Invalid latency-tracking-info-percentiles parameters".to_string())
            }
            Ok(p) if (0.0..=100.0).contains(&p) => Ok(p),
            Ok(_) => Err(
                "latency-tracking-info-percentiles parameters should sit between [0.0,100.0]"
                    .to_string(),
            ),
            Err(_) => Err("Invalid latency-tracking-info-percentiles parameters".to_string()),
        })
        .collect()
}

/// The option's value as CONFIG GET shows it.
pub fn percentiles_text(percentiles: &[f64]) -> String {
    percentiles
        .iter()
        .map(|&p| format_percentile(p))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histogram_buckets_are_redis_hdr_buckets() {
        // Redis documents this distribution: buckets named 1, 2, 4, 8, 16, 33 µs.
        let h = Histogram::default();
        for usec in [0, 1, 2, 3, 4, 8, 16, 33] {
            h.record(usec);
        }
        assert_eq!(
            h.cumulative_usec(),
            [(1, 2), (2, 3), (4, 5), (8, 6), (16, 7), (33, 8)]
        );
        let h = Histogram::default();
        h.record(34);
        h.record(5_000_000);
        assert_eq!(h.cumulative_usec(), [(66, 1), (1_073_741, 2)]);
    }

    #[test]
    fn percentiles_are_redis_hdr_percentiles() {
        // Values as Redis reports them: 1 µs is 1000 ns, counted in a range ending at 1003.
        let h = Histogram::default();
        h.record(1);
        assert_eq!(format!("{:.3}", h.percentile_usec(50.0)), "1.003");
        h.record(2);
        h.record(100);
        assert_eq!(format!("{:.3}", h.percentile_usec(50.0)), "2.007");
        assert_eq!(format!("{:.3}", h.percentile_usec(99.9)), "100.351");
        assert_eq!(format!("{:.3}", h.percentile_usec(0.0)), "1.000");
    }

    #[test]
    fn percentile_option_round_trips() {
        let p = parse_percentiles("50 99 99.9").unwrap();
        assert_eq!(percentiles_text(&p), "50 99 99.9");
        assert_eq!(parse_percentiles("").unwrap(), Vec::<f64>::new());
        assert!(parse_percentiles("101").is_err());
        assert!(parse_percentiles("abc").is_err());
        assert!(parse_percentiles("-1").is_err());
    }

    #[test]
    fn a_second_holds_one_sample_its_worst() {
        let mut s = Series::new();
        s.add(10, 5);
        s.add(10, 9);
        s.add(10, 3);
        s.add(11, 4);
        let got: Vec<(u64, u64)> = s.samples().map(|x| (x.time_s, x.latency_ms)).collect();
        assert_eq!(got, [(10, 9), (11, 4)]);
        assert_eq!(s.max_ms, 9);
        for t in 0..200 {
            s.add(100 + t, t);
        }
        assert_eq!(s.samples().count(), SERIES_LEN);
        assert_eq!(s.last().time_s, 299);
    }
}
