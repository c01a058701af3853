//! Blocking commands over real sockets: a client blocked in BLPOP/BLMOVE/BZPOPMIN is served
//! by a later push from another connection, in arrival order, exactly once; its timeout
//! answers a null array; a client that leaves while blocked takes nothing; commands pipelined
//! behind a blocking command wait for it. The cluster test in `cluster.rs` covers a push on
//! one node serving a client blocked on another.

mod common;

use std::time::Duration;

use common::{Cairn, Raw};

fn addr(node: &Cairn) -> String {
    format!("127.0.0.1:{}", node.port)
}

#[test]
fn a_blocked_pop_is_served_by_a_later_push() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    blocked.send_cmd(&["BLPOP", "missing", "list", "0"]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["RPUSH", "list", "a", "b"]), b":2\r\n");
    assert_eq!(
        blocked.read_reply(),
        b"*2\r\n$4\r\nlist\r\n$1\r\na\r\n".to_vec()
    );
    assert_eq!(
        other.cmd(&["LRANGE", "list", "0", "-1"]),
        b"*1\r\n$1\r\nb\r\n"
    );
    other.wait_blocked(0);
}

#[test]
fn blocked_clients_are_served_in_arrival_order_each_element_once() {
    let node = Cairn::start(&[]);
    let mut first = Raw::connect(&addr(&node));
    let mut second = Raw::connect(&addr(&node));
    let mut third = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    first.send_cmd(&["BRPOP", "q", "0"]);
    other.wait_blocked(1);
    second.send_cmd(&["BLPOP", "q", "0"]);
    other.wait_blocked(2);
    third.send_cmd(&["BLPOP", "q", "0"]);
    other.wait_blocked(3);
    // Two elements in one entry: the first two clients get one each, the third waits.
    assert_eq!(other.cmd(&["RPUSH", "q", "x", "y"]), b":2\r\n");
    assert_eq!(first.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\ny\r\n".to_vec());
    assert_eq!(
        second.read_reply(),
        b"*2\r\n$1\r\nq\r\n$1\r\nx\r\n".to_vec()
    );
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["EXISTS", "q"]), b":0\r\n");
    assert_eq!(other.cmd(&["LPUSH", "q", "z"]), b":1\r\n");
    assert_eq!(third.read_reply(), b"*2\r\n$1\r\nq\r\n$1\r\nz\r\n".to_vec());
}

#[test]
fn a_timeout_answers_a_null_array_in_both_protocols() {
    let node = Cairn::start(&[]);
    let mut c = Raw::connect(&addr(&node));
    assert_eq!(c.cmd(&["BLPOP", "nothing", "0.05"]), b"*-1\r\n");
    assert_eq!(
        c.cmd(&["BLMOVE", "a", "b", "LEFT", "RIGHT", "0.05"]),
        b"*-1\r\n"
    );
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["BRPOP", "nothing", "0.05"]), b"_\r\n");
    // A served client is not answered twice when its timeout passes later.
    c.cmd(&["RPUSH", "l", "v"]);
    assert_eq!(
        c.cmd(&["BLPOP", "l", "0.05"]),
        b"*2\r\n$1\r\nl\r\n$1\r\nv\r\n".to_vec()
    );
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(c.cmd(&["PING"]), b"+PONG\r\n");
}

#[test]
fn a_client_that_leaves_while_blocked_takes_nothing() {
    let node = Cairn::start(&[]);
    let mut other = Raw::connect(&addr(&node));
    {
        let mut gone = Raw::connect(&addr(&node));
        gone.send_cmd(&["BLPOP", "k", "0"]);
        other.wait_blocked(1);
    }
    other.wait_blocked(0);
    assert_eq!(other.cmd(&["RPUSH", "k", "kept"]), b":1\r\n");
    assert_eq!(other.cmd(&["LPOP", "k"]), b"$4\r\nkept\r\n");
}

#[test]
fn commands_pipelined_behind_a_blocking_command_wait_for_it() {
    let node = Cairn::start(&[]);
    let mut c = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    c.send(b"*3\r\n$5\r\nBLPOP\r\n$1\r\np\r\n$1\r\n0\r\n*3\r\n$5\r\nRPUSH\r\n$1\r\np\r\n$4\r\nmine\r\n");
    other.wait_blocked(1);
    // The RPUSH behind the BLPOP has not run: the list is still empty.
    assert_eq!(other.cmd(&["EXISTS", "p"]), b":0\r\n");
    other.cmd(&["RPUSH", "p", "theirs"]);
    assert_eq!(
        c.read_reply(),
        b"*2\r\n$1\r\np\r\n$6\r\ntheirs\r\n".to_vec()
    );
    assert_eq!(c.read_reply(), b":1\r\n");
    assert_eq!(
        other.cmd(&["LRANGE", "p", "0", "-1"]),
        b"*1\r\n$4\r\nmine\r\n"
    );
}

#[test]
fn a_move_into_a_watched_list_wakes_the_next_client() {
    let node = Cairn::start(&[]);
    let mut mover = Raw::connect(&addr(&node));
    let mut popper = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    mover.send_cmd(&["BLMOVE", "src", "dst", "RIGHT", "LEFT", "0"]);
    other.wait_blocked(1);
    popper.send_cmd(&["BLPOP", "dst", "0"]);
    other.wait_blocked(2);
    other.cmd(&["LPUSH", "src", "job"]);
    assert_eq!(mover.read_reply(), b"$3\r\njob\r\n");
    assert_eq!(
        popper.read_reply(),
        b"*2\r\n$3\r\ndst\r\n$3\r\njob\r\n".to_vec()
    );
    assert_eq!(other.cmd(&["DBSIZE"]), b":0\r\n");
}

#[test]
fn a_blocked_client_survives_a_wrong_type_push_and_other_databases() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    blocked.send_cmd(&["BLPOP", "k", "0"]);
    other.wait_blocked(1);
    // Same key name in another database: not the key the client waits on.
    other.cmd(&["SELECT", "1"]);
    other.cmd(&["RPUSH", "k", "elsewhere"]);
    other.cmd(&["SELECT", "0"]);
    other.wait_blocked(1);
    other.cmd(&["SET", "k", "string"]);
    other.cmd(&["DEL", "k"]);
    other.cmd(&["RPUSH", "k", "here"]);
    assert_eq!(
        blocked.read_reply(),
        b"*2\r\n$1\r\nk\r\n$4\r\nhere\r\n".to_vec()
    );
}

#[test]
fn client_unblock_answers_a_blocked_client_now() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    let id = String::from_utf8(blocked.cmd(&["CLIENT", "ID"])).unwrap();
    let id = id.trim_start_matches(':').trim_end();
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", id]), b":0\r\n");
    blocked.send_cmd(&["BLPOP", "k", "0"]);
    other.wait_blocked(1);
    assert_eq!(
        other.cmd(&["CLIENT", "UNBLOCK", id, "MAYBE"]),
        b"-ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR\r\n".to_vec()
    );
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", id]), b":1\r\n");
    assert_eq!(blocked.read_reply(), b"*-1\r\n");
    blocked.send_cmd(&["BRPOP", "k", "0"]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", id, "ERROR"]), b":1\r\n");
    assert_eq!(
        blocked.read_reply(),
        b"-UNBLOCKED client unblocked via CLIENT UNBLOCK\r\n".to_vec()
    );
    // Unblocked clients take nothing pushed later.
    other.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(other.cmd(&["LLEN", "k"]), b":1\r\n");
}

#[test]
fn a_blocked_sorted_set_pop_is_served_by_a_later_zadd() {
    let node = Cairn::start(&[]);
    let mut blocked = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    blocked.send_cmd(&["BZPOPMIN", "board", "0"]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["ZADD", "board", "2", "b", "1", "a"]), b":2\r\n");
    assert_eq!(
        blocked.read_reply(),
        b"*3\r\n$5\r\nboard\r\n$1\r\na\r\n$1\r\n1\r\n".to_vec()
    );
    assert_eq!(
        blocked.cmd(&["BZMPOP", "0.05", "1", "board", "MAX"]),
        b"*2\r\n$5\r\nboard\r\n*1\r\n*2\r\n$1\r\nb\r\n$1\r\n2\r\n".to_vec()
    );
    assert_eq!(blocked.cmd(&["BZPOPMAX", "board", "0.05"]), b"*-1\r\n");
}

#[test]
fn a_key_that_changes_type_inside_a_transaction_leaves_the_waiter_blocked() {
    let node = Cairn::start(&[]);
    let mut waiter = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    waiter.send_cmd(&["BZPOPMIN", "z", "0"]);
    other.wait_blocked(1);
    // The ZADD signals the key, but when the waiter's retry runs the key is a string: Redis
    // serves a waiter only from a key of its type, so it keeps waiting.
    other.send_cmd(&["MULTI"]);
    other.send_cmd(&["ZADD", "z", "0", "foo"]);
    other.send_cmd(&["DEL", "z"]);
    other.send_cmd(&["SET", "z", "foo"]);
    assert_eq!(
        [0; 4].map(|_| other.read_reply()).concat(),
        b"+OK\r\n+QUEUED\r\n+QUEUED\r\n+QUEUED\r\n"
    );
    assert_eq!(other.cmd(&["EXEC"]), b"*3\r\n:1\r\n:1\r\n+OK\r\n");
    other.wait_blocked(1);
    other.cmd(&["DEL", "z"]);
    assert_eq!(other.cmd(&["ZADD", "z", "1", "bar"]), b":1\r\n");
    assert_eq!(
        waiter.read_reply(),
        b"*3\r\n$1\r\nz\r\n$3\r\nbar\r\n$1\r\n1\r\n".to_vec()
    );
}

#[test]
fn a_wrong_typed_destination_is_an_error_for_the_waiter() {
    let node = Cairn::start(&[]);
    let mut waiter = Raw::connect(&addr(&node));
    let mut other = Raw::connect(&addr(&node));
    other.cmd(&["SET", "target", "nolist"]);
    waiter.send_cmd(&["BRPOPLPUSH", "blist", "target", "0"]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["RPUSH", "blist", "foo"]), b":1\r\n");
    assert_eq!(
        waiter.read_reply(),
        b"-WRONGTYPE Operation against a key holding the wrong kind of value\r\n".to_vec()
    );
    assert_eq!(
        other.cmd(&["LRANGE", "blist", "0", "-1"]),
        b"*1\r\n$3\r\nfoo\r\n"
    );
    other.wait_blocked(0);
}
