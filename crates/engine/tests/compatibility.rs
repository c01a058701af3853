//! docs/COMPATIBILITY.md's command list is generated from the command table; this test fails
//! when the document is stale. `CAIRN_BLESS=1 cargo test -p cairn-engine --test compatibility`
//! rewrites it.

const BEGIN: &str = "<!-- BEGIN GENERATED: command table -->\n";
const END: &str = "<!-- END GENERATED -->";

#[test]
fn compatibility_doc_matches_the_table() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/COMPATIBILITY.md");
    let doc = std::fs::read_to_string(&path).expect("docs/COMPATIBILITY.md exists");
    let start = doc.find(BEGIN).expect("begin marker") + BEGIN.len();
    let end = doc.find(END).expect("end marker");
    let generated = cairn_engine::commands::command::compatibility_table();
    if doc[start..end] == generated {
        return;
    }
    if std::env::var_os("CAIRN_BLESS").is_some() {
        let fresh = format!("{}{}{}", &doc[..start], generated, &doc[end..]);
        std::fs::write(&path, fresh).unwrap();
        return;
    }
    panic!(
        "docs/COMPATIBILITY.md is stale: run CAIRN_BLESS=1 cargo test -p cairn-engine --test compatibility"
    );
}

#[test]
fn every_row_is_consistent() {
    use cairn_engine::table::{self, Handler, flag};
    for spec in table::commands() {
        assert!(
            spec.name
                .chars()
                .all(|c| c.is_ascii_lowercase() || matches!(c, '-' | '.' | '_')),
            "{}",
            spec.name
        );
        assert!(
            !spec.summary.is_empty() && !spec.since.is_empty(),
            "{} lacks docs",
            spec.name
        );
        assert!(
            spec.acl_categories() != 0,
            "{} has no ACL category",
            spec.name
        );
        match spec.handler {
            // A MAY_REPLICATE read (PFCOUNT) is logged because it may change its key.
            Handler::Write(..) => assert!(
                spec.flags & (flag::WRITE | flag::MAY_REPLICATE) != 0,
                "{} writes without the write or may_replicate flag",
                spec.name
            ),
            Handler::Read(_) => assert!(
                spec.flags & flag::WRITE == 0,
                "{} is a read with the write flag",
                spec.name
            ),
            Handler::Container => assert!(
                !spec.subcommands.is_empty(),
                "{} is an empty container",
                spec.name
            ),
            Handler::Session(_) => {}
        }
        for sub in spec.subcommands {
            assert!(
                sub.arity.unsigned_abs() >= 2,
                "{}|{} arity counts the subcommand",
                spec.name,
                sub.name
            );
        }
    }
}
