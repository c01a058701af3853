//! Starts the real `cairn` binary on a free loopback port with its own data directory, and
//! talks to it over real sockets.

#![allow(dead_code)] // reason: each test file uses a different part of this module

use std::io::{BufRead, BufReader, Read, Write};
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

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
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
        cmd.args(["--port", &port.to_string(), "--dir"]).arg(dir).args(extra);
        cmd.env_remove("CAIRN_PORT").env("CAIRN_LOGLEVEL", "warn");
        cmd.stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("start cairn");
        // The first stdout line says where it listens; wait for it.
        let stdout = child.stdout.take().unwrap();
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).unwrap();
        assert!(line.contains("listening on"), "unexpected first line: {line:?}");
        Cairn { child, port, dir: dir.to_path_buf(), _tmp: None }
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
        let _ = Command::new("kill").arg(self.child.id().to_string()).status();
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
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        stream.set_nodelay(true).unwrap();
        Raw { stream }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    pub fn cmd(&mut self, args: &[&str]) -> Vec<u8> {
        let mut out = format!("*{}\r\n", args.len()).into_bytes();
        for a in args {
            out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
        }
        self.send(&out);
        self.read_reply()
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
        let n = || std::str::from_utf8(&line[1..]).unwrap().parse::<i64>().unwrap();
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
        self.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        loop {
            match self.stream.read(&mut buf) {
                Ok(0) => return true,
                Ok(_) => continue,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => return false,
                Err(_) => return true,
            }
        }
    }
}
