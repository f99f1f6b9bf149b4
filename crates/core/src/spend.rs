//! Spend: the sums of the cost and token values a payload's sanitized events carry.
//!
//! Trusts the sanitizer to add only values that passed their kind check and were written.
//! Guarantees: figures only (numbers, fixed names), so they can be logged and metered.

use serde::Serialize;

/// The output attributes whose written values are summed, and what they are summed into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SpendField {
    CostUsd,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheCreationTokens,
}

impl SpendField {
    /// The field an output attribute key is summed into, if any.
    pub(crate) fn of_output(key: &str) -> Option<SpendField> {
        Some(match key {
            "cost_usd" => SpendField::CostUsd,
            "input_tokens" => SpendField::InputTokens,
            "output_tokens" => SpendField::OutputTokens,
            "cache_read_tokens" => SpendField::CacheReadTokens,
            "cache_creation_tokens" => SpendField::CacheCreationTokens,
            _ => return None,
        })
    }
}

/// Sums over the written events of one or more payloads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize)]
pub struct Spend {
    /// Sum of `cost_usd`, in US dollars.
    pub cost_usd: f64,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub cache_read_tokens: u64,
    pub cache_creation_tokens: u64,
}

impl Spend {
    pub(crate) fn add(&mut self, field: SpendField, value: f64) {
        // Kept token counts are integers in 0..=10^8, exact as f64.
        let tokens = value as u64;
        match field {
            SpendField::CostUsd => self.cost_usd += value,
            SpendField::InputTokens => self.input_tokens += tokens,
            SpendField::OutputTokens => self.output_tokens += tokens,
            SpendField::CacheReadTokens => self.cache_read_tokens += tokens,
            SpendField::CacheCreationTokens => self.cache_creation_tokens += tokens,
        }
    }

    pub fn merge(&mut self, other: &Spend) {
        self.cost_usd += other.cost_usd;
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
        self.cache_read_tokens += other.cache_read_tokens;
        self.cache_creation_tokens += other.cache_creation_tokens;
    }

    /// All tokens, of every type.
    pub fn tokens(&self) -> u64 {
        self.input_tokens + self.output_tokens + self.cache_read_tokens + self.cache_creation_tokens
    }
}
