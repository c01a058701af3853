//! SWAPDB wakes blocked clients, over real sockets: Redis scans both databases for keys that
//! clients wait on, so a client blocked in BLPOP on database 0 is served once SWAPDB brings a
//! non-empty list there, whichever of the two databases it waits in; a client whose key is
//! still empty keeps waiting.

mod common;

use common::Cairn;

#[test]
fn swapdb_serves_a_client_blocked_on_the_database_it_fills() {
    let node = Cairn::start(&[]);
    let mut blocked = node.conn();
    let mut other = node.conn();
    blocked.send_cmd(&["BLPOP", "q", "0"]);
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["RPUSH", "q", "a", "b"]), b":2\r\n");
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["SWAPDB", "0", "1"]), b"+OK\r\n");
    assert_eq!(
        blocked.read_reply(),
        b"*2\r\n$1\r\nq\r\n$1\r\na\r\n".to_vec()
    );
    other.wait_blocked(0);
    // Database 1 now holds what database 0 held (nothing); database 0 the rest of the list.
    assert_eq!(other.cmd(&["EXISTS", "q"]), b":0\r\n");
    assert_eq!(other.cmd(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["LRANGE", "q", "0", "-1"]), b"*1\r\n$1\r\nb\r\n");
}

#[test]
fn swapdb_wakes_clients_of_both_databases_and_only_those_it_can_serve() {
    let node = Cairn::start(&[]);
    let mut in0 = node.conn();
    let mut in1 = node.conn();
    let mut waits = node.conn();
    let mut other = node.conn();
    // Database 0 holds y, database 1 holds x; each client waits for the other database's key.
    assert_eq!(other.cmd(&["RPUSH", "y", "from0"]), b":1\r\n");
    assert_eq!(other.cmd(&["SELECT", "1"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["RPUSH", "x", "from1"]), b":1\r\n");
    in0.send_cmd(&["BLPOP", "x", "0"]);
    other.wait_blocked(1);
    assert_eq!(in1.cmd(&["SELECT", "1"]), b"+OK\r\n");
    in1.send_cmd(&["BRPOP", "y", "0"]);
    other.wait_blocked(2);
    waits.send_cmd(&["BLMOVE", "none", "dst", "LEFT", "RIGHT", "0"]);
    other.wait_blocked(3);
    assert_eq!(other.cmd(&["SWAPDB", "1", "0"]), b"+OK\r\n");
    assert_eq!(
        in0.read_reply(),
        b"*2\r\n$1\r\nx\r\n$5\r\nfrom1\r\n".to_vec()
    );
    assert_eq!(
        in1.read_reply(),
        b"*2\r\n$1\r\ny\r\n$5\r\nfrom0\r\n".to_vec()
    );
    // The client whose key is still missing keeps waiting, and a push serves it.
    other.wait_blocked(1);
    assert_eq!(other.cmd(&["SELECT", "0"]), b"+OK\r\n");
    assert_eq!(other.cmd(&["RPUSH", "none", "v"]), b":1\r\n");
    assert_eq!(waits.read_reply(), b"$1\r\nv\r\n".to_vec());
    other.wait_blocked(0);
    assert_eq!(
        other.cmd(&["LRANGE", "dst", "0", "-1"]),
        b"*1\r\n$1\r\nv\r\n"
    );
}
