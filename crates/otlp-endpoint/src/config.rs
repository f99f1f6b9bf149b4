//! The endpoint's configuration: the sanitizer function's variables (`sanitizer_aws::config`:
//! the sanitized group and stream, the pseudonym key) and its own, validated once at start-up.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `OTLP_TOKEN_SECRET_ARN` | Secrets Manager secret whose `SecretString` is the bearer token (read once per cold start) |
//! | `OTLP_TOKEN` | the bearer token itself (local runs, tests); exactly one of the two is required |
//! | `MAX_REQUEST_BYTES` | optional: the cap on a request body and on what it decompresses to, default [`DEFAULT_MAX_REQUEST_BYTES`] |
//!
//! An empty value counts as unset. Pure: reads variables, calls nothing; the secret is read by
//! [`crate::auth::TokenSource::load`]. Errors name the variable and what is wrong, never a value.

use crate::auth::{BearerToken, TokenError, TokenSource};
use sanitizer_aws::config::{Config, ConfigError};
pub use sanitizer_otlp::DEFAULT_MAX_REQUEST_BYTES;

/// The validated endpoint configuration.
#[derive(Clone, Debug)]
pub struct EndpointConfig {
    /// The sanitized group and stream and the pseudonym key, as for the sanitizer function.
    pub base: Config,
    pub token: TokenSource,
    pub max_request: usize,
}

/// A configuration problem, naming the variable only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum EndpointConfigError {
    #[error(transparent)]
    Base(#[from] ConfigError),
    #[error("set exactly one of OTLP_TOKEN_SECRET_ARN and OTLP_TOKEN")]
    Token,
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: &'static str },
}

impl EndpointConfig {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, EndpointConfigError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(()),
        })
    }

    /// Reads variables through `lookup` (`Err` = present but not UTF-8). Pure, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Result<Option<String>, ()>) -> Result<Self, EndpointConfigError> {
        let base = Config::from_lookup(&lookup)?;
        let get = |var: &'static str| -> Result<Option<String>, EndpointConfigError> {
            match lookup(var) {
                Ok(Some(v)) if v.is_empty() => Ok(None),
                Ok(v) => Ok(v),
                Err(()) => Err(EndpointConfigError::Invalid { var, reason: "not UTF-8" }),
            }
        };
        let token = match (get("OTLP_TOKEN_SECRET_ARN")?, get("OTLP_TOKEN")?) {
            (Some(arn), None) if arn.starts_with("arn:") => TokenSource::Secret(arn),
            (Some(_), None) => {
                return Err(EndpointConfigError::Invalid {
                    var: "OTLP_TOKEN_SECRET_ARN",
                    reason: "not an ARN (arn:...)",
                });
            }
            (None, Some(token)) => TokenSource::Value(
                BearerToken::new(&token)
                    .map_err(|e: TokenError| EndpointConfigError::Invalid { var: "OTLP_TOKEN", reason: e.reason() })?,
            ),
            _ => return Err(EndpointConfigError::Token),
        };
        let max_request = match get("MAX_REQUEST_BYTES")? {
            None => DEFAULT_MAX_REQUEST_BYTES,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(EndpointConfigError::Invalid {
                        var: "MAX_REQUEST_BYTES",
                        reason: "not a positive integer",
                    });
                }
            },
        };
        Ok(EndpointConfig { base, token, max_request })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<EndpointConfig, EndpointConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        EndpointConfig::from_lookup(|name| Ok(map.get(name).cloned()))
    }

    const TOKEN: &str = "CANARY-token-0123456789abcdef";

    #[test]
    fn a_token_is_required_from_exactly_one_source() {
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", TOKEN)]).unwrap();
        assert!(matches!(c.token, TokenSource::Value(_)));
        assert_eq!(c.max_request, DEFAULT_MAX_REQUEST_BYTES);
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:t";
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN_SECRET_ARN", arn), ("OTLP_TOKEN", "")]).unwrap();
        assert!(matches!(&c.token, TokenSource::Secret(a) if a == arn));
        assert_eq!(config(&[("SANITIZED_LOG_GROUP", "g")]).unwrap_err(), EndpointConfigError::Token);
        let both = config(&[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN_SECRET_ARN", arn), ("OTLP_TOKEN", TOKEN)]);
        assert_eq!(both.unwrap_err(), EndpointConfigError::Token);
    }

    #[test]
    fn invalid_values_are_named_not_echoed() {
        let cases: &[&[(&str, &str)]] = &[
            &[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", "CANARY token with spaces")],
            &[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN_SECRET_ARN", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", TOKEN), ("MAX_REQUEST_BYTES", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", TOKEN), ("MAX_REQUEST_BYTES", "0")],
            &[("SANITIZED_LOG_GROUP", "CANARY group"), ("OTLP_TOKEN", TOKEN)],
        ];
        for vars in cases {
            let err = config(vars).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("CANARY"), "{text}");
        }
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("OTLP_TOKEN", TOKEN), ("MAX_REQUEST_BYTES", "1024")]).unwrap();
        assert_eq!(c.max_request, 1024);
        assert!(!format!("{c:?}").contains("CANARY"), "the token's Debug prints no token");
    }
}
