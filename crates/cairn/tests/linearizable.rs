//! Linearizability of a register workload through a whole cluster: many clients spread over
//! three Cairn nodes run SET, GET, INCR and DEL on a few keys; every operation is recorded
//! with its invocation and response times, and the history is checked by the project's
//! Wing–Gong checker (crates/lincheck). One run also kills a Cairn node mid-way: its
//! clients' operations in flight have an unknown outcome, which the checker allows to have
//! happened or not.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cairn_lincheck::{Event, Op, Outcome, Ret};
use common::nats::NatsCluster;
use common::{Cairn, Client, Resp};

static SERIAL: Mutex<()> = Mutex::new(());

const KEYS: usize = 3;
const OPS_PER_CLIENT: usize = 150;
const CLIENTS_PER_NODE: usize = 4;

/// One client's operations: each recorded with times on the shared clock `t0`.
fn run_client(addr: String, client: u64, seed: u64, t0: Instant, out: Arc<Mutex<Vec<Event>>>) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let Ok(mut conn) = Client::connect(&addr) else {
        return;
    };
    for i in 0..OPS_PER_CLIENT {
        let key = format!("r{}", rng.usize(0..KEYS));
        let (op, args): (Op, Vec<Vec<u8>>) = match rng.u8(0..10) {
            0..=2 => {
                let v = format!("c{client}-{i}").into_bytes();
                (
                    Op::Set(v.clone()),
                    vec![b"SET".to_vec(), key.clone().into(), v],
                )
            }
            3..=6 => (Op::Get, vec![b"GET".to_vec(), key.clone().into()]),
            7..=8 => (Op::Incr, vec![b"INCR".to_vec(), key.clone().into()]),
            _ => (Op::Del, vec![b"DEL".to_vec(), key.clone().into()]),
        };
        let args: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
        let invoked_ns = t0.elapsed().as_nanos() as u64;
        let reply = conn.call(&args);
        let returned_ns = t0.elapsed().as_nanos() as u64;
        let outcome = match (&op, reply) {
            (_, Err(_)) => Outcome::Unknown,
            (Op::Set(_), Ok(Resp::Simple(s))) if s == "OK" => Outcome::Ok(Ret::Done),
            (Op::Get, Ok(Resp::Bulk(v))) => Outcome::Ok(Ret::Value(Some(v))),
            (Op::Get, Ok(Resp::Nil)) => Outcome::Ok(Ret::Value(None)),
            (Op::Incr | Op::Del, Ok(Resp::Int(n))) => Outcome::Ok(Ret::Int(n)),
            (Op::Incr, Ok(Resp::Error(e))) if e.starts_with("ERR value is not an integer") => {
                Outcome::Ok(Ret::Error)
            }
            (op, Ok(other)) => panic!("{op:?} on {key} replied {other:?}"),
        };
        let unknown = outcome == Outcome::Unknown;
        out.lock().unwrap().push(Event {
            client,
            key: key.into_bytes(),
            op,
            outcome,
            invoked_ns,
            returned_ns,
        });
        if unknown {
            return;
        }
    }
}

fn run(kill_node: bool) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let nats = NatsCluster::start(3);
    let mut nodes: Vec<Cairn> = (0..3).map(|_| nats.node(&[])).collect();
    let t0 = Instant::now();
    let history = Arc::new(Mutex::new(Vec::new()));
    let seed = fastrand::u64(..);
    eprintln!("workload seed {seed}");
    let mut threads = Vec::new();
    for (n, node) in nodes.iter().enumerate() {
        for c in 0..CLIENTS_PER_NODE {
            let client = (n * CLIENTS_PER_NODE + c) as u64;
            let (addr, out) = (node.addr(), history.clone());
            threads.push(std::thread::spawn(move || {
                run_client(addr, client, seed ^ client, t0, out)
            }));
        }
    }
    if kill_node {
        std::thread::sleep(Duration::from_millis(300));
        nodes[1].kill9();
    }
    for t in threads {
        t.join().unwrap();
    }
    let history = history.lock().unwrap().clone();
    let unknown = history
        .iter()
        .filter(|e| e.outcome == Outcome::Unknown)
        .count();
    eprintln!(
        "{} operations, {unknown} with an unknown outcome",
        history.len()
    );
    assert!(history.len() > OPS_PER_CLIENT * CLIENTS_PER_NODE * 2);
    if let Err(violation) = cairn_lincheck::check(&history) {
        panic!("not linearizable (workload seed {seed}):\n{violation}");
    }
}

#[test]
fn a_register_workload_across_nodes_is_linearizable() {
    run(false);
}

#[test]
fn a_register_workload_stays_linearizable_when_a_node_dies() {
    run(true);
}
