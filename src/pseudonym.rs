//! Keyed pseudonyms (stub: being written).
pub struct PseudonymKey;
impl std::fmt::Debug for PseudonymKey { fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result { f.write_str("PseudonymKey(..)") } }
#[derive(Debug, thiserror::Error)]
#[error("pseudonym key too short")]
pub struct KeyError;
impl PseudonymKey { pub fn new(_secret: &[u8]) -> Result<Self, KeyError> { todo!() } }
