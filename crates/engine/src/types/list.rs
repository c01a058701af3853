//! List values (Redis 7.0 reports every list as `quicklist`).

use std::collections::VecDeque;

use crate::snapshot::{Reader, SnapshotError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct List {
    items: VecDeque<Box<[u8]>>,
}

impl List {
    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    pub fn heap_bytes(&self) -> usize {
        self.items.iter().map(|i| i.len() + 16).sum()
    }

    /// Snapshot form: u64 count, then per element u32 len, bytes (head first).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.items.len() as u64).to_le_bytes());
        for item in &self.items {
            out.extend_from_slice(&(item.len() as u32).to_le_bytes());
            out.extend_from_slice(item);
        }
    }

    pub fn decode(r: &mut Reader) -> Result<List, SnapshotError> {
        let n = r.u64()?;
        let mut items = VecDeque::new();
        for _ in 0..n {
            let len = r.u32()? as usize;
            items.push_back(r.take(len)?.into());
        }
        Ok(List { items })
    }
}
