//! The bearer token: where it comes from (`OTLP_TOKEN`, or a Secrets Manager secret read once per
//! cold start) and the one check of a request's `Authorization` header.
//!
//! Trusts Secrets Manager to return the secret asked for. Guarantees: the token is kept only as
//! its SHA-256 digest; a presented token is hashed and the two digests compared in constant time
//! (`subtle`), so neither the token's bytes nor its length shape the time taken; no error,
//! `Debug` output or log line holds the token or what a request presented.

use lambda_http::http::HeaderMap;
use lambda_http::http::header::AUTHORIZATION;
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The shortest token accepted: a guessable token would make the endpoint an open door to the
/// sanitized group.
pub const MIN_TOKEN_LEN: usize = 16;

/// The longest token accepted (a header value well within any HTTP front end's limits).
pub const MAX_TOKEN_LEN: usize = 4096;

/// The expected token, as its SHA-256 digest.
#[derive(Clone)]
pub struct BearerToken {
    digest: [u8; 32],
}

/// Why a configured token is unusable. Names a rule, never the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token must be 16 to 4096 characters")]
    Length,
    #[error("the token may hold visible ASCII characters only (no spaces)")]
    Characters,
}

impl TokenError {
    pub fn reason(self) -> &'static str {
        match self {
            TokenError::Length => "must be 16 to 4096 characters",
            TokenError::Characters => "may hold visible ASCII characters only (no spaces)",
        }
    }
}

impl BearerToken {
    /// A token as configured (surrounding ASCII whitespace, such as a final newline, ignored).
    pub fn new(token: &str) -> Result<Self, TokenError> {
        let token = token.trim_ascii();
        if !(MIN_TOKEN_LEN..=MAX_TOKEN_LEN).contains(&token.len()) {
            return Err(TokenError::Length);
        }
        if !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::Characters);
        }
        Ok(BearerToken { digest: digest(token.as_bytes()) })
    }

    /// Whether `headers` hold exactly one `Authorization: Bearer <token>` with this token. The
    /// scheme is case-insensitive (RFC 7235); the token is compared by digest in constant time.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let mut values = headers.get_all(AUTHORIZATION).iter();
        let (Some(value), None) = (values.next(), values.next()) else { return false };
        let value = value.as_bytes();
        let Some((scheme, presented)) = value.split_at_checked(7) else { return false };
        if !scheme.eq_ignore_ascii_case(b"bearer ") {
            return false;
        }
        bool::from(digest(presented.trim_ascii()).ct_eq(&self.digest))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    out.copy_from_slice(&Sha256::digest(bytes));
    out
}

/// No token, not even its digest.
impl std::fmt::Debug for BearerToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BearerToken").finish_non_exhaustive()
    }
}

/// Where the token comes from.
#[derive(Clone, Debug)]
pub enum TokenSource {
    /// The token itself (`OTLP_TOKEN`), validated when the configuration was read.
    Value(BearerToken),
    /// A Secrets Manager secret (`OTLP_TOKEN_SECRET_ARN`) whose `SecretString` is the token.
    Secret(String),
}

/// Why the token could not be loaded. Never carries the token.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenLoadError {
    #[error("the bearer token secret could not be read: {0}")]
    Secret(&'static str),
    #[error("the bearer token secret is unusable: {0}")]
    Token(#[from] TokenError),
}

impl TokenSource {
    /// Reads the token, once. `sdk` is asked for the AWS configuration only for a secret.
    pub async fn load(self, sdk: impl AsyncFnOnce() -> aws_config::SdkConfig) -> Result<BearerToken, TokenLoadError> {
        match self {
            TokenSource::Value(token) => Ok(token),
            TokenSource::Secret(id) => fetch_secret_token(&sdk().await, &id).await,
        }
    }
}

/// Reads the bearer token from Secrets Manager (`SecretString`).
pub async fn fetch_secret_token(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<BearerToken, TokenLoadError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        use aws_sdk_secretsmanager::error::SdkError;
        TokenLoadError::Secret(match e {
            SdkError::ServiceError(_) => "GetSecretValue was refused (permissions, or no such secret?)",
            SdkError::TimeoutError(_) => "GetSecretValue timed out",
            SdkError::DispatchFailure(_) => "GetSecretValue could not be sent",
            _ => "GetSecretValue failed",
        })
    })?;
    let token = out.secret_string().ok_or(TokenLoadError::Secret("the secret has no SecretString"))?;
    Ok(BearerToken::new(token)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use lambda_http::http::HeaderValue;

    const TOKEN: &str = "CANARY-token-0123456789abcdef";

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(AUTHORIZATION, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn admits_exactly_one_bearer_header_with_the_token() {
        let token = BearerToken::new(&format!("{TOKEN}\n")).unwrap();
        for ok in [format!("Bearer {TOKEN}"), format!("bearer {TOKEN}"), format!("BEARER {TOKEN} ")] {
            assert!(token.admits(&headers(&[&ok])), "{ok}");
        }
        let refused = [
            vec![],
            vec![TOKEN.to_owned()],
            vec![format!("Basic {TOKEN}")],
            vec![format!("Bearer {TOKEN}x")],
            vec![format!("Bearer {}", &TOKEN[1..])],
            vec!["Bearer ".to_owned()],
            vec!["Bear".to_owned()],
            vec![format!("Bearer {TOKEN}"), format!("Bearer {TOKEN}")],
        ];
        for values in refused {
            let values: Vec<&str> = values.iter().map(String::as_str).collect();
            assert!(!token.admits(&headers(&values)), "{values:?}");
        }
    }

    #[test]
    fn unusable_tokens_are_refused_by_rule_and_never_printed() {
        assert_eq!(BearerToken::new("CANARY-short").unwrap_err(), TokenError::Length);
        assert_eq!(BearerToken::new("CANARY token 0123456789").unwrap_err(), TokenError::Characters);
        let token = BearerToken::new(TOKEN).unwrap();
        assert!(!format!("{token:?} {:?}", TokenSource::Value(token.clone())).contains("CANARY"));
    }
}
