//! Hash values: `listpack` while small, `hashtable` beyond `hash-max-listpack-*`.

use crate::snapshot::{Reader, SnapshotError};

/// One field and its value.
type Field = (Box<[u8]>, Box<[u8]>);

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Hash {
    /// (field, value) in insertion order.
    fields: Vec<Field>,
}

impl Hash {
    pub fn len(&self) -> usize {
        self.fields.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fields.is_empty()
    }

    pub fn encoding(&self) -> &'static str {
        "listpack"
    }

    pub fn heap_bytes(&self) -> usize {
        self.fields
            .iter()
            .map(|(f, v)| f.len() + v.len() + 32)
            .sum()
    }

    /// Snapshot form: u64 count, then per field u32 len, field, u32 len, value.
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.fields.len() as u64).to_le_bytes());
        for (f, v) in &self.fields {
            for b in [f, v] {
                out.extend_from_slice(&(b.len() as u32).to_le_bytes());
                out.extend_from_slice(b);
            }
        }
    }

    pub fn decode(r: &mut Reader) -> Result<Hash, SnapshotError> {
        let n = r.u64()?;
        let mut fields = Vec::new();
        for _ in 0..n {
            let f = r.bytes()?.into();
            let v = r.bytes()?.into();
            fields.push((f, v));
        }
        Ok(Hash { fields })
    }
}
