//! Sorted set values: `listpack` while small, `skiplist` beyond `zset-max-listpack-*`.

use crate::snapshot::{Reader, SnapshotError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct ZSet {
    /// (score, member) ordered by score, then member.
    entries: Vec<(f64, Box<[u8]>)>,
}

impl ZSet {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn heap_bytes(&self) -> usize {
        self.entries.iter().map(|(_, m)| m.len() + 24).sum()
    }

    /// Snapshot form: u64 count, then per entry f64 score (bits), u32 len, member.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.entries.len() as u64).to_le_bytes());
        for (score, m) in &self.entries {
            out.extend_from_slice(&score.to_bits().to_le_bytes());
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            out.extend_from_slice(m);
        }
    }

    pub fn decode(r: &mut Reader) -> Result<ZSet, SnapshotError> {
        let n = r.u64()?;
        let mut entries = Vec::new();
        for _ in 0..n {
            let score = f64::from_bits(r.u64()?);
            entries.push((score, r.bytes()?.into()));
        }
        Ok(ZSet { entries })
    }
}
