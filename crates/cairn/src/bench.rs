//! `cairn bench`: a load generator for what redis-benchmark cannot send — an operation made
//! of several commands (MULTI … EXEC, EVALSHA after SCRIPT LOAD, XREADGROUP + XACK). Works
//! against any RESP server, so the same run measures Redis and Cairn.
//!
//! ```text
//! cairn bench [-h HOST] [-p PORT] [-c CLIENTS] [-P PIPELINE] [-n OPERATIONS] [-r KEYSPACE]
//!             [--setup "CMD ARGS"]... [--csv NAME] "CMD ARGS; CMD ARGS; ..."
//! ```
//! One operation is the `;`-separated commands, sent back to back; `__rand__` in an argument
//! becomes a random number below the keyspace size (a new one per operation). Each client
//! keeps PIPELINE operations in flight. Prints operations/s and the p50/p99 latency of an
//! operation in ms, as one line of key=value pairs, or with `--csv NAME` one line in
//! redis-benchmark's `--csv` format (bench/lib.py reads both). Every reply is read and
//! checked: an error reply stops the run. `--setup` commands run once, before the clock starts.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Options {
    host: String,
    port: u16,
    clients: usize,
    pipeline: usize,
    operations: usize,
    keyspace: u64,
    setup: Vec<Vec<String>>,
    operation: Vec<Vec<String>>,
    csv: Option<String>,
}

fn usage() -> ! {
    eprintln!(
        "cairn: usage: cairn bench [-h HOST] [-p PORT] [-c CLIENTS] [-P PIPELINE] [-n OPERATIONS] [-r KEYSPACE] [--setup \"CMD ARGS\"]... [--csv NAME] \"CMD ARGS; CMD ARGS\""
    );
    std::process::exit(2)
}

fn words(command: &str) -> Vec<String> {
    command.split_whitespace().map(str::to_string).collect()
}

fn parse(args: &[String]) -> Options {
    let mut o = Options {
        host: "127.0.0.1".into(),
        port: 6379,
        clients: 50,
        pipeline: 1,
        operations: 100_000,
        keyspace: 100_000,
        setup: Vec::new(),
        operation: Vec::new(),
        csv: None,
    };
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1);
        let number = || -> u64 {
            value
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match args[i].as_str() {
            "-h" => o.host = value.cloned().unwrap_or_else(|| usage()),
            "-p" => o.port = number() as u16,
            "-c" => o.clients = number().max(1) as usize,
            "-P" => o.pipeline = number().max(1) as usize,
            "-n" => o.operations = number() as usize,
            "-r" => o.keyspace = number().max(1),
            "--setup" => o.setup.push(words(value.unwrap_or_else(|| usage()))),
            "--csv" => o.csv = Some(value.cloned().unwrap_or_else(|| usage())),
            text if !text.starts_with('-') && o.operation.is_empty() => {
                o.operation = text
                    .split(';')
                    .map(words)
                    .filter(|w| !w.is_empty())
                    .collect();
                i += 1;
                continue;
            }
            _ => usage(),
        }
        i += 2;
    }
    if o.operation.is_empty() {
        usage();
    }
    o
}

fn encode(out: &mut Vec<u8>, words: &[String], rng: &mut fastrand::Rng, keyspace: u64) {
    out.extend_from_slice(format!("*{}\r\n", words.len()).as_bytes());
    for w in words {
        let arg = if w.contains("__rand__") {
            w.replace("__rand__", &rng.u64(..keyspace).to_string())
        } else {
            w.clone()
        };
        out.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
    }
}

/// Length of the first complete reply in `buf` (`None`: incomplete); sets `error` when the
/// reply, or anything inside it, is an error.
fn reply_len(buf: &[u8], error: &mut bool) -> Option<usize> {
    let line_end = buf.windows(2).position(|w| w == b"\r\n")?;
    let head = std::str::from_utf8(&buf[1..line_end]).ok()?;
    let after = line_end + 2;
    match buf.first()? {
        b'-' | b'!' => {
            *error = true;
            Some(after)
        }
        b'+' | b':' | b'_' | b',' | b'#' | b'(' => Some(after),
        b'$' | b'=' => {
            let n: i64 = head.parse().ok()?;
            if n < 0 {
                return Some(after);
            }
            let end = after + n as usize + 2;
            (buf.len() >= end).then_some(end)
        }
        b'*' | b'~' | b'>' | b'%' | b'|' => {
            let n: i64 = head.parse().ok()?;
            let items = match buf[0] {
                b'%' | b'|' => n.max(0) * 2,
                _ => n.max(0),
            };
            let mut at = after;
            for _ in 0..items {
                at += reply_len(&buf[at..], error)?;
            }
            Some(at)
        }
        _ => None,
    }
}

async fn run_client(o: &Options, operations: usize, seed: u64) -> std::io::Result<Vec<Duration>> {
    let mut stream = TcpStream::connect((o.host.as_str(), o.port)).await?;
    stream.set_nodelay(true)?;
    let mut rng = fastrand::Rng::with_seed(seed);
    let per_op = o.operation.len();
    let mut latencies = Vec::with_capacity(operations);
    let mut buf = Vec::with_capacity(64 * 1024);
    let mut sent = 0;
    let mut done = 0;
    let mut in_flight: std::collections::VecDeque<Instant> = std::collections::VecDeque::new();
    let mut replies_in_op = 0;
    let mut error = false;
    while done < operations {
        if sent < operations && in_flight.len() < o.pipeline {
            let mut out = Vec::new();
            while sent < operations && in_flight.len() < o.pipeline {
                for words in &o.operation {
                    encode(&mut out, words, &mut rng, o.keyspace);
                }
                in_flight.push_back(Instant::now());
                sent += 1;
            }
            stream.write_all(&out).await?;
        }
        let mut chunk = [0u8; 64 * 1024];
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(std::io::Error::other("server closed the connection"));
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        while let Some(len) = reply_len(&buf[at..], &mut error) {
            if error {
                let text = String::from_utf8_lossy(&buf[at..at + len])
                    .trim_end()
                    .to_string();
                return Err(std::io::Error::other(format!("error reply: {text}")));
            }
            at += len;
            replies_in_op += 1;
            if replies_in_op == per_op {
                replies_in_op = 0;
                let started = in_flight.pop_front().expect("an operation in flight");
                latencies.push(started.elapsed());
                done += 1;
            }
        }
        buf.drain(..at);
    }
    Ok(latencies)
}

async fn setup(o: &Options) -> std::io::Result<()> {
    let mut stream = TcpStream::connect((o.host.as_str(), o.port)).await?;
    let mut rng = fastrand::Rng::with_seed(0);
    for words in &o.setup {
        let mut out = Vec::new();
        encode(&mut out, words, &mut rng, o.keyspace);
        stream.write_all(&out).await?;
        let mut buf = Vec::new();
        let mut error = false;
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::Error::other("server closed the connection"));
            }
            buf.extend_from_slice(&chunk[..n]);
            if reply_len(&buf, &mut error).is_some() {
                break;
            }
        }
        if error {
            let text = String::from_utf8_lossy(&buf).trim_end().to_string();
            return Err(std::io::Error::other(format!("setup {words:?}: {text}")));
        }
    }
    Ok(())
}

pub fn main(args: Vec<String>) -> i32 {
    let o = parse(&args);
    let csv = o.csv.clone();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let result = runtime.block_on(async {
        setup(&o).await?;
        let started = Instant::now();
        let o = std::sync::Arc::new(o);
        let tasks: Vec<_> = (0..o.clients)
            .map(|i| {
                let o = o.clone();
                let share = o.operations / o.clients + usize::from(i < o.operations % o.clients);
                tokio::spawn(async move { run_client(&o, share, i as u64 + 1).await })
            })
            .collect();
        let mut latencies = Vec::with_capacity(o.operations);
        for task in tasks {
            latencies.extend(task.await.map_err(std::io::Error::other)??);
        }
        Ok::<_, std::io::Error>((started.elapsed(), latencies))
    });
    match result {
        Ok((elapsed, mut latencies)) => {
            latencies.sort();
            let ms = |d: &Duration| d.as_secs_f64() * 1000.0;
            let at = |q: f64| {
                let last = latencies.len().saturating_sub(1);
                latencies
                    .get(((latencies.len() as f64 * q) as usize).min(last))
                    .map_or(0.0, ms)
            };
            let rps = latencies.len() as f64 / elapsed.as_secs_f64();
            match &csv {
                Some(name) => {
                    let avg = latencies.iter().map(ms).sum::<f64>() / latencies.len().max(1) as f64;
                    println!(
                        "\"{name}\",\"{rps:.2}\",\"{avg:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\",\"{:.3}\"",
                        at(0.0),
                        at(0.50),
                        at(0.95),
                        at(0.99),
                        at(1.0)
                    );
                }
                None => println!(
                    "ops_per_sec={rps:.0} p50_ms={:.3} p99_ms={:.3} operations={}",
                    at(0.50),
                    at(0.99),
                    latencies.len()
                ),
            }
            0
        }
        Err(e) => {
            eprintln!("cairn bench: {e}");
            1
        }
    }
}
