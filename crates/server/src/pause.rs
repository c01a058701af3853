//! CLIENT PAUSE / CLIENT UNPAUSE, as in Redis 7.0: for a while, this node holds its clients'
//! commands — every command (`ALL`), or those that may change data or be propagated
//! (`WRITE`: write commands, PUBLISH, PFCOUNT, scripts that may write, an EXEC holding one of
//! these). A held client is not answered and runs nothing more until the pause ends (its time
//! passes, or CLIENT UNPAUSE); then held clients run their commands in the order they were held.
//! Commands the gate refuses (unknown command, wrong arity, NOAUTH, NOPERM, OOM) are answered at
//! once. While paused, the node proposes no expiry deletes (ticks, or keys its reads found
//! expired): expired keys stay invisible but in place, as Redis leaves them during a pause.
//!
//! A pause is this node's alone: the other nodes of a shared log keep serving their clients,
//! whose writes this node still applies.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU8, Ordering::Relaxed};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use cairn_engine::commands::{eq_ignore_case, parse_i64};
use cairn_engine::script::sflag;
use cairn_engine::table::{self, flag};
use cairn_engine::{Spec, script};
use cairn_resp::Reply;
use tokio::sync::Notify;

use crate::node::{NodeHandle, unix_ms};
use crate::session::Session;

const OFF: u8 = 0;
const WRITE: u8 = 1;
const ALL: u8 = 2;

/// The node's pause and the clients it holds.
#[derive(Default)]
pub struct Pause {
    /// OFF, WRITE or ALL: what the gate reads (the end time is checked under the lock).
    mode: AtomicU8,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    /// The pause CLIENT PAUSE asked for: its mode and its end (unix ms). A pause while one is
    /// in force keeps the stricter mode and the later end, as Redis does.
    event: Option<(u8, u64)>,
    /// Clients holding a command, in the order they were held, with what wakes each.
    held: VecDeque<(u64, Arc<Notify>)>,
}

impl Pause {
    /// The mode in force now; a pause whose time has passed ends here.
    fn current(&self) -> u8 {
        if self.mode.load(Relaxed) == OFF {
            return OFF;
        }
        let mut inner = self.inner.lock().expect("pause lock");
        self.refresh(&mut inner, unix_ms());
        self.mode.load(Relaxed)
    }

    /// Whether clients are paused (in either mode): no expiry deletes are proposed.
    pub fn active(&self) -> bool {
        self.current() != OFF
    }

    /// Whether a command is held: any under ALL, one that may change data under WRITE.
    fn holds(&self, may_replicate: bool) -> bool {
        match self.current() {
            OFF => false,
            WRITE => may_replicate,
            _ => true,
        }
    }

    /// Ends the pause when its time has passed; wakes every held client when the mode becomes
    /// less strict (they run, or are held again under the mode left).
    fn refresh(&self, inner: &mut Inner, now: u64) {
        let old = self.mode.load(Relaxed);
        if inner.event.is_some_and(|(_, end)| end < now) {
            inner.event = None;
        }
        let mode = inner.event.map_or(OFF, |(mode, _)| mode);
        self.mode.store(mode, Relaxed);
        if mode < old {
            for (_, waker) in inner.held.drain(..) {
                waker.notify_one();
            }
        }
    }

    fn pause(&self, mode: u8, end: u64) {
        let mut inner = self.inner.lock().expect("pause lock");
        inner.event = Some(match inner.event {
            Some((m, e)) => (m.max(mode), e.max(end)),
            None => (mode, end),
        });
        // A stricter mode takes effect now (refresh only ever relaxes it).
        let mode = inner.event.map_or(OFF, |(mode, _)| mode);
        if mode > self.mode.load(Relaxed) {
            self.mode.store(mode, Relaxed);
        }
        self.refresh(&mut inner, unix_ms());
    }

    fn unpause(&self) {
        let mut inner = self.inner.lock().expect("pause lock");
        inner.event = None;
        self.refresh(&mut inner, unix_ms());
    }

    /// The pause's end, while one is in force.
    fn end(&self) -> Option<u64> {
        self.inner.lock().expect("pause lock").event.map(|(_, e)| e)
    }

    fn hold(&self, client: u64, waker: &Arc<Notify>) {
        let mut inner = self.inner.lock().expect("pause lock");
        inner.held.push_back((client, waker.clone()));
    }

    /// A held client left (closed, killed).
    fn release(&self, client: u64) {
        let mut inner = self.inner.lock().expect("pause lock");
        inner.held.retain(|(id, _)| *id != client);
    }

    /// Clients held now (counted in INFO `blocked_clients`, as Redis counts them).
    pub fn held(&self) -> usize {
        self.inner.lock().expect("pause lock").held.len()
    }
}

/// A session's command held by the pause.
#[derive(Default)]
pub struct Held {
    pub(crate) argv: Option<Vec<Bytes>>,
    /// Notified when the pause ends or relaxes.
    pub(crate) waker: Arc<Notify>,
    /// The pause released it: it runs once the connection's earlier commands have replied.
    pub(crate) released: bool,
    /// The held command is being dispatched again (it goes to lane 0).
    pub(crate) releasing: bool,
}

impl Held {
    pub fn is_held(&self) -> bool {
        self.argv.is_some()
    }
}

/// Whether `spec` may change data or be propagated, by Redis's flags (`write`, or
/// `may_replicate`: PUBLISH, SPUBLISH, PFCOUNT, EVAL, EVALSHA, FCALL). Cairn's table also
/// marks its logged reads `may_replicate` (XREAD, SCRIPT LOAD/FLUSH); Redis serves those
/// during a WRITE pause, and so does Cairn. A script's own flags decide for EVAL, EVALSHA
/// and FCALL, when they are known.
pub(crate) fn may_replicate(node: &NodeHandle, spec: &Spec, argv: &[Bytes]) -> bool {
    if spec.flags & flag::WRITE != 0 {
        return true;
    }
    if spec.flags & flag::MAY_REPLICATE == 0 {
        return false;
    }
    match spec.name {
        "eval" | "evalsha" | "fcall" => script_may_write(node, spec.name, argv),
        "pfcount" | "publish" | "spublish" => true,
        _ => false,
    }
}

/// Redis's `evalGetCommandFlags`/`fcallGetCommandFlags`: a script that declared its flags
/// writes unless it says `no-writes`; one without (or one not known yet) may write.
fn script_may_write(node: &NodeHandle, name: &str, argv: &[Bytes]) -> bool {
    let Some(body_or_name) = argv.get(1) else {
        return true;
    };
    let flags = node.scripting(|sc| match name {
        "eval" => match sc.script(&script::sha1hex(body_or_name)) {
            Some(cached) => Some(cached.flags),
            None => script::shebang_flags(body_or_name).ok().map(|(f, _)| f),
        },
        "evalsha" if body_or_name.len() == 40 => {
            let sha = String::from_utf8_lossy(body_or_name).to_ascii_lowercase();
            sc.script(&sha).map(|cached| cached.flags)
        }
        "fcall" => {
            let name = String::from_utf8_lossy(body_or_name);
            sc.libraries().function(&name).map(|(_, f)| f.flags)
        }
        _ => None,
    });
    match flags {
        Some(flags) if flags & sflag::EVAL_COMPAT == 0 => flags & sflag::NO_WRITES == 0,
        _ => true,
    }
}

/// The gate's pause check (after every refusal, before MULTI queues the command): holds the
/// command when the pause covers it. Returns true when held.
pub(crate) fn hold_if_paused(s: &mut Session, spec: &Spec, argv: &mut Vec<Bytes>) -> bool {
    let pause = &s.shared.pause;
    if pause.mode.load(Relaxed) == OFF {
        return false;
    }
    let may_replicate = match &s.multi {
        Some(_) if spec.name == "exec" => crate::multi::may_replicate(s),
        _ => may_replicate(&s.node, spec, argv),
    };
    if !pause.holds(may_replicate) {
        return false;
    }
    pause.hold(s.client.id, &s.held.waker);
    s.held.argv = Some(std::mem::take(argv));
    s.client.blocked.store(true, Relaxed);
    true
}

/// The pause ended or relaxed: the held command goes through the gate again.
pub(crate) fn take_held(s: &mut Session) -> Option<Vec<Bytes>> {
    s.held.released = false;
    let argv = s.held.argv.take()?;
    s.client.blocked.store(false, Relaxed);
    Some(argv)
}

/// The session ends: it is no longer held.
pub(crate) fn forget(s: &mut Session) {
    s.held.released = false;
    if s.held.argv.take().is_some() {
        s.shared.pause.release(s.client.id);
    }
}

/// CLIENT PAUSE timeout [WRITE|ALL].
pub(crate) fn client_pause(s: &mut Session, argv: &[Bytes]) -> Reply {
    if argv.len() > 4 {
        return Reply::error(format!(
            "ERR unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
            table::lossy_trim(&argv[1], 128)
        ));
    }
    let mode = match argv.get(3) {
        None => ALL,
        Some(m) if eq_ignore_case(m, "WRITE") => WRITE,
        Some(m) if eq_ignore_case(m, "ALL") => ALL,
        Some(_) => return Reply::error_static("ERR CLIENT PAUSE mode must be WRITE or ALL"),
    };
    let Some(timeout) = parse_i64(&argv[2]) else {
        return Reply::error_static("ERR timeout is not an integer or out of range");
    };
    if timeout < 0 {
        return Reply::error_static("ERR timeout is negative");
    }
    // A timeout of 0 ends at 0: it pauses nothing (or leaves a pause in force as it is).
    let end = if timeout > 0 {
        unix_ms().saturating_add(timeout as u64)
    } else {
        0
    };
    let pause = &s.shared.pause;
    pause.pause(mode, end);
    if pause.mode.load(Relaxed) != OFF {
        wake_at_end(s.shared.clone());
    }
    Reply::ok()
}

/// CLIENT UNPAUSE.
pub(crate) fn client_unpause(s: &mut Session) -> Reply {
    s.shared.pause.unpause();
    Reply::ok()
}

/// Held clients are released when the pause's time passes, even if no command comes to notice.
fn wake_at_end(shared: Arc<crate::node::Shared>) {
    /// Longer sleeps are taken in steps (a pause of years is legal).
    const STEP_MS: u64 = 24 * 60 * 60 * 1000;
    tokio::task::spawn_local(async move {
        loop {
            let Some(end) = shared.pause.end() else {
                return;
            };
            let now = unix_ms();
            if end < now {
                shared.pause.current();
                return;
            }
            let wait = (end - now + 1).min(STEP_MS);
            tokio::time::sleep(Duration::from_millis(wait)).await;
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pause_keeps_the_stricter_mode_and_the_later_end() {
        let p = Pause::default();
        let now = unix_ms();
        p.pause(WRITE, now + 100_000);
        assert!(p.holds(true) && !p.holds(false));
        p.pause(ALL, now + 10);
        assert!(p.holds(false));
        assert_eq!(p.end(), Some(now + 100_000));
        p.unpause();
        assert!(!p.holds(true));
    }

    #[test]
    fn a_pause_of_zero_pauses_nothing_and_a_past_end_wakes_the_held() {
        let p = Pause::default();
        p.pause(ALL, 0);
        assert!(!p.active());
        p.pause(WRITE, unix_ms() + 100_000);
        let waker = Arc::new(Notify::new());
        p.hold(7, &waker);
        assert_eq!(p.held(), 1);
        // Relaxing from WRITE to OFF wakes it (a permit is stored for its next wait).
        p.inner.lock().unwrap().event = Some((WRITE, 1));
        assert!(!p.active());
        assert_eq!(p.held(), 0);
    }
}
