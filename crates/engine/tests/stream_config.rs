//! `stream-node-max-entries` / `stream-node-max-bytes` are replicated options (Config
//! entries): they decide where a stream starts a new node, which XINFO shows and `~` trimming
//! follows, and they survive a snapshot.

use bytes::Bytes;
use cairn_engine::testing::{Harness, render};
use cairn_engine::{Body, Engine};

fn config(h: &mut Harness, name: &str, value: &str) {
    h.apply(Body::Config {
        pairs: vec![
            Bytes::from(name.to_string()),
            Bytes::from(value.to_string()),
        ],
    });
}

/// XINFO STREAM's `radix-tree-keys`: the stream's nodes.
fn nodes(h: &mut Harness) -> String {
    let info = render(&h.cmd("XINFO STREAM s"));
    let key = "\"radix-tree-keys\" => ";
    let at = info
        .find(key)
        .unwrap_or_else(|| panic!("XINFO counts the nodes: {info}"));
    info[at + key.len()..]
        .split(',')
        .next()
        .unwrap()
        .to_string()
}

#[test]
fn node_limits_follow_config_entries() {
    let mut h = Harness::new();
    config(&mut h, "stream-node-max-entries", "2");
    for i in 1..=5 {
        h.cmd(&format!("XADD s {i}-0 f v"));
    }
    assert_eq!(nodes(&mut h), ":3");
    // `~` trims whole nodes only: MAXLEN ~ 2 drops the first two full nodes' entries.
    assert_eq!(render(&h.cmd("XTRIM s MAXLEN ~ 2")), ":2");
    assert_eq!(render(&h.cmd("XLEN s")), ":3");

    let restored = Engine::restore(&h.engine.snapshot(), 16).expect("restores");
    assert_eq!(restored.encodings().stream_node_max_entries, 2);
    assert_eq!(restored.encodings().stream_node_max_bytes, 4096);

    config(&mut h, "stream-node-max-entries", "0");
    config(&mut h, "stream-node-max-bytes", "0");
    for i in 6..=50 {
        h.cmd(&format!("XADD s {i}-0 f v"));
    }
    // No limit: the last node ([5-0]) takes every new entry; [3-0, 4-0] stays as it was.
    assert_eq!(nodes(&mut h), ":2");
}
