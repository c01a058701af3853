//! Runs every transcript in tests/transcripts/ through `check()`.

#[test]
fn transcripts() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    let mut ran = 0;
    for file in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "txt"))
    {
        let script = std::fs::read_to_string(file).unwrap();
        cairn_engine::testing::check(&file.display().to_string(), &script);
        ran += 1;
    }
    assert!(ran > 0, "no transcripts in {}", dir.display());
}
