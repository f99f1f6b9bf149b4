//! The Lambda binaries' logging: one JSON line per event on stdout (Lambda's JSON log format),
//! no time (Lambda adds it).
//!
//! Guarantee: `lambda_runtime` logs raw request bodies at TRACE and the AWS SDK requests at
//! DEBUG/TRACE; every crate but the caller's own (`own_targets`) is capped at INFO here in code,
//! whatever `AWS_LAMBDA_LOG_LEVEL` or `RUST_LOG` (a bare level) say. Those set the level of
//! `own_targets` only.

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Installs the global subscriber. `own_targets`: the crates (module paths) whose level the
/// environment may raise past INFO.
pub fn init_tracing(own_targets: &[&str]) {
    let requested = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .ok()
        .and_then(|v| v.parse::<LevelFilter>().ok())
        .unwrap_or(LevelFilter::INFO);
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .json()
                .with_current_span(false)
                .with_span_list(false)
                .without_time()
                .with_writer(std::io::stdout)
                .with_filter(filter(requested, own_targets)),
        )
        .init();
}

/// `requested` for `own_targets`, at most INFO for everything else.
fn filter(requested: LevelFilter, own_targets: &[&str]) -> Targets {
    let mut filter = Targets::new().with_default(requested.min(LevelFilter::INFO));
    for target in own_targets {
        filter = filter.with_target(*target, requested);
    }
    filter
}

#[cfg(test)]
mod tests {
    use super::*;
    use tracing::Level;

    #[test]
    fn other_crates_stay_at_info_whatever_is_requested() {
        let f = filter(LevelFilter::TRACE, &["sanitizer_aws"]);
        assert!(f.would_enable("sanitizer_aws::handler", &Level::TRACE));
        for target in ["lambda_runtime", "lambda_runtime_api_client", "aws_smithy_runtime", "lambda_http"] {
            assert!(!f.would_enable(target, &Level::DEBUG), "{target}");
            assert!(f.would_enable(target, &Level::INFO), "{target}");
        }
        let f = filter(LevelFilter::WARN, &["sanitizer_aws"]);
        assert!(!f.would_enable("sanitizer_aws", &Level::INFO) && !f.would_enable("lambda_runtime", &Level::INFO));
    }
}
