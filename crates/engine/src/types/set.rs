//! Set values: `intset` while every member is an integer and there are at most
//! `set-max-intset-entries`, `hashtable` beyond.

use crate::snapshot::{Reader, SnapshotError};

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Set {
    members: Vec<Box<[u8]>>,
}

impl Set {
    pub fn len(&self) -> usize {
        self.members.len()
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "hashtable"
    }

    pub fn heap_bytes(&self) -> usize {
        self.members.iter().map(|m| m.len() + 16).sum()
    }

    /// Snapshot form: u64 count, then per member u32 len, bytes.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.members.len() as u64).to_le_bytes());
        for m in &self.members {
            out.extend_from_slice(&(m.len() as u32).to_le_bytes());
            out.extend_from_slice(m);
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Set, SnapshotError> {
        let n = r.u64()?;
        let mut members = Vec::new();
        for _ in 0..n {
            members.push(r.bytes()?.into());
        }
        Ok(Set { members })
    }
}

// ---------------------------------------------------------------------------------------------
// Read access for other families: ZUNION/ZINTER/ZDIFF take sets as inputs (members score 1).

impl Set {
    /// Every member, in no particular order.
    pub fn members(&self) -> impl Iterator<Item = &[u8]> {
        self.members.iter().map(|m| &m[..])
    }
}
