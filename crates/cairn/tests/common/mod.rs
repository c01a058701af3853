//! Starts the real `cairn` binary on a free loopback port with its own data directory, and
//! talks to it over real sockets.

#![allow(dead_code)] // reason: each test file uses a different part of this module

pub mod differential;
pub mod http;
pub mod nats;

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Cairn {
    pub child: Child,
    pub port: u16,
    pub dir: PathBuf,
    _tmp: Option<tempfile::TempDir>,
}

/// A loopback port nobody listens on, for a server a test is about to start.
///
/// Ports come from 20000..32000, below Linux's ephemeral range (32768..), so an outgoing
/// connection of this or another test can never take the port between this check and the
/// server's bind; each process walks the range from its own offset, and no port is handed
/// out twice by one process.
pub fn free_port() -> u16 {
    use std::sync::atomic::{AtomicU32, Ordering};
    const FIRST: u32 = 20_000;
    const COUNT: u32 = 12_000;
    static NEXT: AtomicU32 = AtomicU32::new(u32::MAX);
    let _ = NEXT.compare_exchange(
        u32::MAX,
        std::process::id().wrapping_mul(7919) % COUNT,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    for _ in 0..COUNT {
        let port = (FIRST + NEXT.fetch_add(1, Ordering::Relaxed) % COUNT) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {FIRST}..{}", FIRST + COUNT);
}

impl Cairn {
    /// A fresh node with its own temporary data directory.
    pub fn start(extra: &[&str]) -> Cairn {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let mut c = Cairn::start_in(&dir, free_port(), extra);
        c._tmp = Some(tmp);
        c
    }

    /// A node on `dir` (which may hold a previous node's data).
    pub fn start_in(dir: &Path, port: u16, extra: &[&str]) -> Cairn {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
        cmd.args(["--port", &port.to_string(), "--dir"])
            .arg(dir)
            .args(extra);
        cmd.env_remove("CAIRN_PORT").env("CAIRN_LOGLEVEL", "warn");
        launch(cmd, port, dir.to_path_buf(), None)
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: a clean shutdown.
    pub fn stop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.kill9();
    }

    pub fn conn(&self) -> Raw {
        Raw::connect(&self.addr())
    }
}

impl Drop for Cairn {
    fn drop(&mut self) {
        self.kill9();
    }
}

/// A raw RESP connection: send bytes, read replies as bytes.
pub struct Raw {
    pub stream: TcpStream,
}

impl Raw {
    pub fn connect(addr: &str) -> Raw {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        self.send_cmd(args);
        self.read_reply()
    }

    /// Sends one command without reading its reply (blocking commands, subscriptions).
    pub fn send_cmd(&mut self, args: &[&str]) {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.send(&out);
    }

    /// Waits (up to 20 s) until INFO on this connection reports `n` blocked clients.
    pub fn wait_blocked(&mut self, n: usize) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let info = String::from_utf8(self.cmd(&["INFO", "clients"])).unwrap();
            if info.contains(&format!("blocked_clients:{n}\r\n")) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "never {n} blocked clients: {info}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Reads one whole RESP2/RESP3 reply, returned raw.
    pub fn read_reply(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        self.read_value(&mut out);
        out
    }

    fn read_line(&mut self, out: &mut Vec<u8>) -> Vec<u8> {
        let start = out.len();
        let mut byte = [0u8; 1];
        loop {
            self.stream.read_exact(&mut byte).expect("reply line");
            out.push(byte[0]);
            if out.len() >= start + 2 && &out[out.len() - 2..] == b"\r\n" {
                return out[start..out.len() - 2].to_vec();
            }
        }
    }

    fn read_value(&mut self, out: &mut Vec<u8>) {
        let line = self.read_line(out);
        let n = || {
            std::str::from_utf8(&line[1..])
                .unwrap()
                .parse::<i64>()
                .unwrap()
        };
        match line[0] {
            b'$' | b'=' | b'!' if n() >= 0 => {
                let mut body = vec![0u8; n() as usize + 2];
                self.stream.read_exact(&mut body).unwrap();
                out.extend_from_slice(&body);
            }
            b'*' | b'~' | b'>' if n() > 0 => (0..n()).for_each(|_| self.read_value(out)),
            b'%' if n() > 0 => (0..2 * n()).for_each(|_| self.read_value(out)),
            _ => {}
        }
    }

    /// True once the server has closed this connection (EOF or reset).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1024];
        self.stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.kind() == std::io::ErrorKind::TimedOut =>
                {
                    return false;
                }
                Err(_) => return true,
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A fallible client and process helpers (crash and durability tests): a server that dies
// mid-request must show up as an `Err`, never as a panic on the client's thread.

/// A RESP2 reply, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resp {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Vec<u8>),
    Nil,
    Array(Vec<Resp>),
}

/// A buffered RESP2 client whose calls return I/O errors instead of panicking.
pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

fn bad_data(what: String) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, what)
}

impl Client {
    pub fn connect(addr: &str) -> std::io::Result<Client> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(20)))?;
        stream.set_nodelay(true)?;
        let writer = stream.try_clone()?;
        Ok(Client {
            reader: BufReader::new(stream),
            writer,
        })
    }

    /// Sends one command (binary-safe arguments) and reads its reply.
    pub fn call(&mut self, args: &[&[u8]]) -> std::io::Result<Resp> {
        self.writer.write_all(&encode_command(args))?;
        self.read()
    }

    /// Sends every command in one write, then reads one reply per command.
    pub fn pipeline(&mut self, cmds: &[Vec<Vec<u8>>]) -> std::io::Result<Vec<Resp>> {
        let mut out = Vec::new();
        for cmd in cmds {
            let args: Vec<&[u8]> = cmd.iter().map(Vec::as_slice).collect();
            out.extend_from_slice(&encode_command(&args));
        }
        self.writer.write_all(&out)?;
        cmds.iter().map(|_| self.read()).collect()
    }

    /// Like `call` with text arguments; panics on an I/O error (the server is expected up).
    pub fn must(&mut self, args: &[&str]) -> Resp {
        let args: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.call(&args).unwrap_or_else(|e| panic!("{args:?}: {e}"))
    }

    fn line(&mut self) -> std::io::Result<String> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match line.strip_suffix("\r\n") {
            Some(l) => Ok(l.to_string()),
            None => Err(std::io::ErrorKind::UnexpectedEof.into()),
        }
    }

    /// Reads one reply.
    pub fn read(&mut self) -> std::io::Result<Resp> {
        let line = self.line()?;
        let (kind, rest) = line.split_at(line.len().min(1));
        let int = || {
            rest.parse::<i64>()
                .map_err(|_| bad_data(format!("bad reply line {line:?}")))
        };
        Ok(match kind {
            "+" => Resp::Simple(rest.to_string()),
            "-" => Resp::Error(rest.to_string()),
            ":" => Resp::Int(int()?),
            "$" if int()? < 0 => Resp::Nil,
            "$" => {
                let mut body = vec![0u8; int()? as usize + 2];
                self.reader.read_exact(&mut body)?;
                if !body.ends_with(b"\r\n") {
                    return Err(bad_data(format!(
                        "bulk of {} bytes not ended by CRLF",
                        rest
                    )));
                }
                body.truncate(body.len() - 2);
                Resp::Bulk(body)
            }
            "*" if int()? < 0 => Resp::Nil,
            "*" => Resp::Array((0..int()?).map(|_| self.read()).collect::<Result<_, _>>()?),
            _ => return Err(bad_data(format!("unexpected reply line {line:?}"))),
        })
    }
}

pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// What a process that exited by itself left behind.
pub struct Exited {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Removes terminal colour sequences (`ESC [ ... m`) from log output.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Collects everything `r` yields, on a thread of its own, into a shared string.
pub fn collect_output(
    mut r: impl Read + Send + 'static,
) -> std::sync::Arc<std::sync::Mutex<String>> {
    let text = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let sink = text.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = r.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock()
                .unwrap()
                .push_str(&String::from_utf8_lossy(&buf[..n]));
        }
    });
    text
}

fn cairn_command(dir: &Path, port: u16, extra: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.args(["--port", &port.to_string(), "--dir"])
        .arg(dir)
        .args(extra);
    cmd.env_remove("CAIRN_PORT")
        .env("CAIRN_LOGLEVEL", "warn")
        .env("NO_COLOR", "1");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

/// Runs a node on `dir` that is expected to refuse to start. `None` if it started instead
/// (it printed its "listening on" line, or was still running after `timeout`); it is killed.
pub fn run_expecting_exit(
    dir: &Path,
    port: u16,
    extra: &[&str],
    timeout: Duration,
) -> Option<Exited> {
    let mut child = cairn_command(dir, port, extra)
        .spawn()
        .expect("start cairn");
    let stdout = collect_output(child.stdout.take().unwrap());
    let stderr = collect_output(child.stderr.take().unwrap());
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            // The reader threads finish once the pipes close; give them a bounded moment.
            let drained = Instant::now() + Duration::from_secs(5);
            while std::sync::Arc::strong_count(&stderr) > 1
                || std::sync::Arc::strong_count(&stdout) > 1
            {
                if Instant::now() > drained {
                    break;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            let stdout = stdout.lock().unwrap().clone();
            let stderr = strip_ansi(&stderr.lock().unwrap());
            return Some(Exited {
                status,
                stdout,
                stderr,
            });
        }
        if Instant::now() > deadline || stdout.lock().unwrap().contains("listening on") {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

impl Cairn {
    /// Like `start_in`, but the node's stderr is collected (colours stripped on reading).
    pub fn start_capturing(
        dir: &Path,
        port: u16,
        extra: &[&str],
    ) -> (Cairn, std::sync::Arc<std::sync::Mutex<String>>) {
        let mut child = cairn_command(dir, port, extra)
            .spawn()
            .expect("start cairn");
        let stderr = collect_output(child.stderr.take().unwrap());
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        assert!(
            line.contains("listening on"),
            "unexpected first line: {line:?}; stderr: {}",
            strip_ansi(&stderr.lock().unwrap())
        );
        (
            Cairn {
                child,
                port,
                dir: dir.to_path_buf(),
                _tmp: None,
            },
            stderr,
        )
    }

    /// Waits up to `timeout` for the process to exit by itself; panics if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> std::process::ExitStatus {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.kill9();
        panic!("cairn did not exit within {timeout:?}");
    }

    /// SIGTERM, then the exit status (panics if it has not exited within 30 s).
    pub fn terminate(&mut self) -> std::process::ExitStatus {
        let sent = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
        self.wait_exit(Duration::from_secs(30))
    }

    pub fn client(&self) -> Client {
        Client::connect(&self.addr()).unwrap()
    }
}

// ---------------------------------------------------------------------------------------------
// A node with a small open-files limit (bad_input.rs: running out of file descriptors).

impl Cairn {
    /// A fresh node whose open-files limit (soft and hard) is `nofile`: the shell sets it
    /// with `ulimit -n` and then execs the binary, so the child's PID is the node's.
    pub fn start_with_nofile(nofile: u64, extra: &[&str]) -> Cairn {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("data");
        let port = free_port();
        let mut cmd = Command::new("bash");
        cmd.arg("-c")
            .arg(format!("ulimit -n {nofile} && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_cairn"));
        cmd.args(["--port", &port.to_string(), "--dir"])
            .arg(&dir)
            .args(extra);
        cmd.env_remove("CAIRN_PORT").env("CAIRN_LOGLEVEL", "warn");
        launch(cmd, port, dir, Some(tmp))
    }
}

impl Client {
    /// Sends one command without reading its reply (read it later with `read`).
    pub fn send_only(&mut self, args: &[&[u8]]) -> std::io::Result<()> {
        self.writer.write_all(&encode_command(args))
    }
}

/// Spawns a node without waiting for it to be ready (to kill it during recovery); its output
/// is discarded.
pub fn spawn_unready(dir: &Path, port: u16, extra: &[&str]) -> Child {
    let mut cmd = cairn_command(dir, port, extra);
    cmd.stdout(Stdio::null()).stderr(Stdio::null());
    cmd.spawn().expect("start cairn")
}

impl Cairn {
    /// Sends SIGTERM without waiting for the exit.
    pub fn send_sigterm(&self) {
        let sent = Command::new("kill")
            .arg(self.child.id().to_string())
            .status()
            .unwrap();
        assert!(sent.success(), "kill -TERM failed");
    }
}

/// A memory field of /proc/<pid>/status (`VmRSS`, `VmHWM`, …), in bytes.
pub fn proc_status_bytes(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("{field} in /proc/{pid}/status"))
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .unwrap();
    kb * 1024
}

/// Starts `cmd` (which runs the binary on `port`) and waits for its first stdout line, which
/// says where it listens.
fn launch(mut cmd: Command, port: u16, dir: PathBuf, tmp: Option<tempfile::TempDir>) -> Cairn {
    cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
    let mut child = cmd.spawn().expect("start cairn");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(
        line.contains("listening on"),
        "unexpected first line: {line:?}"
    );
    Cairn {
        child,
        port,
        dir,
        _tmp: tmp,
    }
}

/// Reads until the server closes the connection or the read times out: (bytes, closed).
pub fn read_to_close(stream: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut buf = [0u8; 64 * 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return (out, true),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return (out, false);
            }
            Err(_) => return (out, true),
        }
    }
}
