//! Lambda configuration: environment variables → a validated [`Config`], checked once at start-up.
//!
//! | variable | meaning |
//! | --- | --- |
//! | `SANITIZED_LOG_GROUP` | required: the log group sanitized events are written to |
//! | `SANITIZED_LOG_STREAM` | optional: one fixed destination stream instead of one per source stream |
//! | `PSEUDONYM_KEY_SECRET_ARN` | optional: Secrets Manager secret holding the pseudonym key (read once per cold start) |
//! | `PSEUDONYM_KEY` | optional: the pseudonym key itself (local runs); at most one of the two |
//! | `MAX_DECOMPRESSED_BYTES` | optional: decompressed payload cap, default [`DEFAULT_MAX_DECOMPRESSED_BYTES`] |
//! | `METRICS_NAMESPACE` | optional: EMF namespace, default [`DEFAULT_METRICS_NAMESPACE`] |
//!
//! An empty value counts as unset (templates often pass `""` for "not configured").
//!
//! Pure: reads variables, calls nothing. The Secrets Manager secret is only named here; it is
//! read by [`crate::key_source`], the one place keys are loaded.
//!
//! Trusts nothing. Guarantees: errors name the variable and what is wrong with it, never its
//! value (a key may be in one); `PSEUDONYM_KEY` is validated into a [`sanitizer_core::PseudonymKey`] at
//! once, whose `Debug` prints no key material.

use crate::key_source::KeySource;
use sanitizer_core::DEFAULT_MAX_DECOMPRESSED_BYTES;

/// The default CloudWatch metrics namespace (the SAM template's alarms use it).
pub const DEFAULT_METRICS_NAMESPACE: &str = "ClaudeOtelSanitizer";

/// Log group names: 1-512 characters of `a-zA-Z0-9_-/.#`.
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogGroup.html>)
pub const MAX_LOG_GROUP_NAME_LEN: usize = 512;

/// Log stream names: 1-512 characters, no `:` or `*`.
/// (<https://docs.aws.amazon.com/AmazonCloudWatchLogs/latest/APIReference/API_CreateLogStream.html>)
pub const MAX_LOG_STREAM_NAME_LEN: usize = 512;

/// Metric namespaces: 1-255 characters.
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricData.html>)
pub const MAX_NAMESPACE_LEN: usize = 255;

/// The validated Lambda configuration.
#[derive(Clone, Debug)]
pub struct Config {
    pub log_group: String,
    pub log_stream: Option<String>,
    pub key_source: KeySource,
    pub max_decompressed: usize,
    pub metrics_namespace: String,
}

/// A configuration problem, naming the variable only.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: &'static str },
    #[error("set at most one of PSEUDONYM_KEY_SECRET_ARN and PSEUDONYM_KEY")]
    BothKeys,
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| match std::env::var(name) {
            Ok(v) => Ok(Some(v)),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(()),
        })
    }

    /// Reads variables through `lookup` (`Err` = present but not UTF-8). Pure, for tests.
    pub fn from_lookup(lookup: impl Fn(&str) -> Result<Option<String>, ()>) -> Result<Self, ConfigError> {
        let get = |var: &'static str| -> Result<Option<String>, ConfigError> {
            match lookup(var) {
                Ok(Some(v)) if v.is_empty() => Ok(None),
                Ok(v) => Ok(v),
                Err(()) => Err(ConfigError::Invalid { var, reason: "not UTF-8" }),
            }
        };

        let log_group = get("SANITIZED_LOG_GROUP")?.ok_or(ConfigError::Missing("SANITIZED_LOG_GROUP"))?;
        check_log_group(&log_group).map_err(|reason| ConfigError::Invalid { var: "SANITIZED_LOG_GROUP", reason })?;

        let log_stream = get("SANITIZED_LOG_STREAM")?;
        if let Some(s) = &log_stream {
            check_log_stream(s).map_err(|reason| ConfigError::Invalid { var: "SANITIZED_LOG_STREAM", reason })?;
        }

        let key_source = match (get("PSEUDONYM_KEY_SECRET_ARN")?, get("PSEUDONYM_KEY")?) {
            (Some(_), Some(_)) => return Err(ConfigError::BothKeys),
            (Some(arn), None) if arn.starts_with("arn:") => KeySource::Secret(arn),
            (Some(_), None) => {
                return Err(ConfigError::Invalid { var: "PSEUDONYM_KEY_SECRET_ARN", reason: "not an ARN (arn:...)" });
            }
            (None, Some(key)) => KeySource::Value(sanitizer_core::PseudonymKey::new(key.as_bytes()).map_err(|_| {
                ConfigError::Invalid { var: "PSEUDONYM_KEY", reason: "not a usable pseudonym key (too short?)" }
            })?),
            (None, None) => KeySource::None,
        };

        let max_decompressed = match get("MAX_DECOMPRESSED_BYTES")? {
            None => DEFAULT_MAX_DECOMPRESSED_BYTES,
            Some(v) => match v.trim().parse::<usize>() {
                Ok(n) if n > 0 => n,
                _ => {
                    return Err(ConfigError::Invalid {
                        var: "MAX_DECOMPRESSED_BYTES",
                        reason: "not a positive integer",
                    });
                }
            },
        };

        let metrics_namespace = get("METRICS_NAMESPACE")?.unwrap_or_else(|| DEFAULT_METRICS_NAMESPACE.to_owned());
        if metrics_namespace.len() > MAX_NAMESPACE_LEN
            || !metrics_namespace.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
            || metrics_namespace.starts_with(':')
        {
            return Err(ConfigError::Invalid {
                var: "METRICS_NAMESPACE",
                reason: "not 1-255 printable ASCII characters",
            });
        }

        Ok(Config { log_group, log_stream, key_source, max_decompressed, metrics_namespace })
    }
}

/// Checks a log group name against the `CreateLogGroup` rules.
pub fn check_log_group(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_LOG_GROUP_NAME_LEN {
        return Err("must be 1-512 characters");
    }
    if !name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_-/.#".contains(&b)) {
        return Err("may only hold a-z A-Z 0-9 _ - / . #");
    }
    Ok(())
}

/// Checks a log stream name against the `CreateLogStream` rules.
pub fn check_log_stream(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_LOG_STREAM_NAME_LEN {
        return Err("must be 1-512 characters");
    }
    if name.contains([':', '*']) || name.chars().any(char::is_control) {
        return Err("may not hold ':', '*' or control characters");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| Ok(map.get(name).cloned()))
    }

    #[test]
    fn minimal_configuration_uses_defaults() {
        let c = config(&[("SANITIZED_LOG_GROUP", "/team/claude-otel-sanitized")]).unwrap();
        assert_eq!(c.log_group, "/team/claude-otel-sanitized");
        assert_eq!(c.log_stream, None);
        assert!(matches!(c.key_source, KeySource::None));
        assert_eq!(c.max_decompressed, DEFAULT_MAX_DECOMPRESSED_BYTES);
        assert_eq!(c.metrics_namespace, DEFAULT_METRICS_NAMESPACE);
    }

    #[test]
    fn missing_group_is_an_error() {
        assert_eq!(config(&[]).unwrap_err(), ConfigError::Missing("SANITIZED_LOG_GROUP"));
        assert_eq!(config(&[("SANITIZED_LOG_GROUP", "")]).unwrap_err(), ConfigError::Missing("SANITIZED_LOG_GROUP"));
    }

    #[test]
    fn invalid_values_are_named_not_echoed() {
        let cases: &[&[(&str, &str)]] = &[
            &[("SANITIZED_LOG_GROUP", "bad group CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("SANITIZED_LOG_STREAM", "a:CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("MAX_DECOMPRESSED_BYTES", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("MAX_DECOMPRESSED_BYTES", "0")],
            &[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY_SECRET_ARN", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY_SECRET_ARN", "arn:x"), ("PSEUDONYM_KEY", "CANARY")],
            &[("SANITIZED_LOG_GROUP", "g"), ("METRICS_NAMESPACE", "\u{1}CANARY")],
        ];
        for vars in cases {
            let err = config(vars).unwrap_err();
            let text = format!("{err} {err:?}");
            assert!(!text.contains("CANARY"), "{text}");
        }
    }

    #[test]
    fn key_sources() {
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:k";
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY_SECRET_ARN", arn)]).unwrap();
        assert!(matches!(&c.key_source, KeySource::Secret(a) if a == arn));
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY_SECRET_ARN", ""), ("SANITIZED_LOG_STREAM", "")])
            .unwrap();
        assert!(matches!(c.key_source, KeySource::None) && c.log_stream.is_none());
    }

    #[test]
    fn a_plain_key_is_validated_at_once_and_never_printed() {
        let c = config(&[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY", "CANARY-0123456789abcdef")]).unwrap();
        assert!(matches!(c.key_source, KeySource::Value(_)));
        assert!(!format!("{c:?}").contains("CANARY"));
        let err = config(&[("SANITIZED_LOG_GROUP", "g"), ("PSEUDONYM_KEY", "CANARY")]).unwrap_err();
        assert!(matches!(err, ConfigError::Invalid { var: "PSEUDONYM_KEY", .. }));
    }

    #[test]
    fn non_utf8_is_invalid() {
        let r = Config::from_lookup(|_| Err(()));
        assert!(matches!(r, Err(ConfigError::Invalid { var: "SANITIZED_LOG_GROUP", .. })));
    }
}
