//! The allowlist (stub: being written).
#[derive(Debug)]
pub struct Allowlist;
#[derive(Debug, thiserror::Error)]
#[error("invalid allowlist")]
pub struct AllowlistError;
impl Allowlist {
    /// The allowlist embedded at build time from `allowlist.toml`.
    pub fn embedded() -> Allowlist { todo!() }
    pub fn from_toml(_text: &str) -> Result<Allowlist, AllowlistError> { todo!() }
}
