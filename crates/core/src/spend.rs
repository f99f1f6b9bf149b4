//! Spend: the sums of the cost and token values a payload's sanitized events carry, and the
//! number of `api_request` and `user_prompt` events among them (the team totals a dashboard
//! reads as metrics, countable without identity).
//!
//! Trusts the sanitizer to add only values that passed their kind check and were written.
//! Guarantees: figures only (numbers, fixed names), so they can be logged and metered.

use serde::Serialize;

/// The output attributes whose written values are summed, and what they are summed into: the
/// one list of which outputs are spend, for the sanitizer's metrics and the digest alike (their
/// kinds and bounds are the allowlist's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SpendField {
    CostUsd,
    InputTokens,
    OutputTokens,
    CacheReadTokens,
    CacheCreationTokens,
}

impl SpendField {
    /// The field an output attribute key is summed into, if any.
    pub fn of_output(key: &str) -> Option<SpendField> {
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

/// The events whose written count is kept beside the spend: the event name (as in the
/// allowlist, without the `claude_code.` prefix) and what it is counted into.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CountedEvent {
    ApiRequest,
    UserPrompt,
}

impl CountedEvent {
    pub(crate) const ALL: [CountedEvent; 2] = [CountedEvent::ApiRequest, CountedEvent::UserPrompt];

    /// The event name counted.
    pub(crate) fn event_name(self) -> &'static str {
        match self {
            CountedEvent::ApiRequest => "api_request",
            CountedEvent::UserPrompt => "user_prompt",
        }
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
    /// `api_request` events written.
    pub api_requests: u64,
    /// `user_prompt` events written.
    pub user_prompts: u64,
}

impl Spend {
    pub(crate) fn add(&mut self, field: SpendField, value: f64) {
        // Kept token counts are whole numbers within their kind's bounds, exact as f64 (`as`
        // saturates whatever the value); sums saturate instead of wrapping.
        let tokens = value as u64;
        match field {
            SpendField::CostUsd => self.cost_usd += value,
            SpendField::InputTokens => self.input_tokens = self.input_tokens.saturating_add(tokens),
            SpendField::OutputTokens => self.output_tokens = self.output_tokens.saturating_add(tokens),
            SpendField::CacheReadTokens => self.cache_read_tokens = self.cache_read_tokens.saturating_add(tokens),
            SpendField::CacheCreationTokens => {
                self.cache_creation_tokens = self.cache_creation_tokens.saturating_add(tokens)
            }
        }
    }

    /// Counts one written event of `event`.
    pub(crate) fn count(&mut self, event: CountedEvent) {
        match event {
            CountedEvent::ApiRequest => self.api_requests = self.api_requests.saturating_add(1),
            CountedEvent::UserPrompt => self.user_prompts = self.user_prompts.saturating_add(1),
        }
    }

    pub fn merge(&mut self, other: &Spend) {
        self.cost_usd += other.cost_usd;
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
        self.cache_read_tokens = self.cache_read_tokens.saturating_add(other.cache_read_tokens);
        self.cache_creation_tokens = self.cache_creation_tokens.saturating_add(other.cache_creation_tokens);
        self.api_requests = self.api_requests.saturating_add(other.api_requests);
        self.user_prompts = self.user_prompts.saturating_add(other.user_prompts);
    }

    /// All tokens, of every type.
    pub fn tokens(&self) -> u64 {
        self.input_tokens
            .saturating_add(self.output_tokens)
            .saturating_add(self.cache_read_tokens)
            .saturating_add(self.cache_creation_tokens)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_saturate_instead_of_wrapping() {
        let mut a = Spend::default();
        a.add(SpendField::InputTokens, 1e8);
        let mut b = Spend { input_tokens: u64::MAX - 5, ..Spend::default() };
        b.merge(&a);
        assert_eq!(b.input_tokens, u64::MAX);
        b.output_tokens = 10;
        assert_eq!(b.tokens(), u64::MAX);
    }

    #[test]
    fn every_spend_output_is_a_numeric_output_of_the_shipped_allowlist() {
        let allowlist = crate::Allowlist::embedded();
        let numeric: Vec<&str> =
            allowlist.attribute_kinds().filter(|(_, k)| k.max().is_some()).map(|(key, _)| key).collect();
        for key in ["cost_usd", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens"] {
            assert!(SpendField::of_output(key).is_some(), "{key}");
            assert!(numeric.contains(&key), "{key} is not a numeric output");
        }
    }

    #[test]
    fn every_counted_event_is_an_event_of_the_shipped_allowlist() {
        let allowlist = crate::Allowlist::embedded();
        for event in CountedEvent::ALL {
            assert!(allowlist.events().iter().any(|e| e == event.event_name()), "{event:?}");
        }
    }
}
