//! Spend: the sums of the cost and token values a payload's written events carry.
//!
//! Placeholder with the interface the lead adds to `main` (BRIEF.md, interface 3), so that
//! `metrics` compiles before the merge; `main`'s version replaces this file.

/// Sums of the values actually written (after kind checks), per payload.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Spend {
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
}

impl Spend {
    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &Spend) {
        self.cost_usd += other.cost_usd;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(other.cache_read_tokens);
        self.cache_creation_tokens = self.cache_creation_tokens.saturating_add(other.cache_creation_tokens);
    }
}
