//! Key loading: the one place a pseudonym key is read, for the Lambda and the CLI alike.
//!
//! A key comes from a string (`PSEUDONYM_KEY`), a file (the CLI's `--pseudonym-key-file`) or a
//! Secrets Manager secret (the Lambda's `PSEUDONYM_KEY_SECRET_ARN`, the CLI's
//! `--pseudonym-key-secret-arn`). Each source is read once and turned straight into a validated
//! [`PseudonymKey`]; no raw key bytes leave this module. The same secret in any of these forms
//! is the same key (see [`PseudonymKey::new`]), so it gives the same pseudonyms and the same
//! stream names.
//!
//! Besides the sink, this is the only module that calls AWS (`GetSecretValue`).
//!
//! Trusts: Secrets Manager to return the secret it was asked for. Guarantees: errors name the
//! source (a file path given by the operator, a fixed operation name) and a kind, never key
//! material; a key that is too short is refused before it is used.

use sanitizer_core::{KeyError, PseudonymKey};
use std::path::{Path, PathBuf};

/// Where the pseudonym key comes from.
#[derive(Clone, Debug)]
pub enum KeySource {
    /// No key: identity attributes are dropped (and counted).
    None,
    /// The key itself (`PSEUDONYM_KEY`), validated when the configuration was read.
    Value(PseudonymKey),
    /// A file holding the key (surrounding whitespace, such as a final newline, is ignored).
    File(PathBuf),
    /// A Secrets Manager secret (ARN or name): `SecretString`, else `SecretBinary`.
    Secret(String),
}

/// Why a key could not be loaded. Never carries key material.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum KeyLoadError {
    #[error("pseudonym key file {path}: {kind}")]
    File { path: String, kind: std::io::ErrorKind },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the pseudonym key secret could not be read: {0}")]
    Secret(&'static str),
}

impl KeySource {
    /// Whether loading calls AWS (so the caller needs an AWS configuration).
    pub fn needs_aws(&self) -> bool {
        matches!(self, KeySource::Secret(_))
    }

    /// Reads the key, once. `sdk` is asked for the AWS configuration only for a Secrets Manager
    /// secret, so a local run with a file or no key never touches AWS.
    pub async fn load(
        self,
        sdk: impl AsyncFnOnce() -> aws_config::SdkConfig,
    ) -> Result<Option<PseudonymKey>, KeyLoadError> {
        match self {
            KeySource::None => Ok(None),
            KeySource::Value(key) => Ok(Some(key)),
            KeySource::File(path) => read_key_file(&path).map(Some),
            KeySource::Secret(id) => fetch_secret_key(&sdk().await, &id).await.map(Some),
        }
    }
}

/// Reads a key file (one read; the whole file is the secret, whitespace around it ignored).
pub fn read_key_file(path: &Path) -> Result<PseudonymKey, KeyLoadError> {
    let secret =
        std::fs::read(path).map_err(|e| KeyLoadError::File { path: path.display().to_string(), kind: e.kind() })?;
    Ok(PseudonymKey::new(&secret)?)
}

/// Reads the pseudonym key from Secrets Manager (`SecretString` as UTF-8 bytes, else
/// `SecretBinary`). The Lambda calls it once per cold start.
pub async fn fetch_secret_key(sdk: &aws_config::SdkConfig, secret_id: &str) -> Result<PseudonymKey, KeyLoadError> {
    let client = aws_sdk_secretsmanager::Client::new(sdk);
    let out = client.get_secret_value().secret_id(secret_id).send().await.map_err(|e| {
        use aws_sdk_secretsmanager::error::SdkError;
        KeyLoadError::Secret(match e {
            SdkError::ServiceError(_) => "GetSecretValue was refused (permissions, or no such secret?)",
            SdkError::TimeoutError(_) => "GetSecretValue timed out",
            SdkError::DispatchFailure(_) => "GetSecretValue could not be sent",
            _ => "GetSecretValue failed",
        })
    })?;
    if let Some(s) = out.secret_string() {
        return Ok(PseudonymKey::new(s.as_bytes())?);
    }
    if let Some(b) = out.secret_binary() {
        return Ok(PseudonymKey::new(b.as_ref())?);
    }
    Err(KeyLoadError::Secret("the secret has no value"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_aws() -> impl AsyncFnOnce() -> aws_config::SdkConfig {
        async || unreachable!("only a Secrets Manager secret needs AWS")
    }

    #[tokio::test]
    async fn file_with_or_without_a_newline_is_the_same_key_as_the_value() {
        let secret = "0123456789abcdef0123456789abcdef";
        let dir = std::env::temp_dir().join(format!("key-source-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let value = KeySource::Value(PseudonymKey::new(secret.as_bytes()).unwrap()).load(no_aws()).await.unwrap();
        let expected = sanitizer_core::StreamNamer::new(value.as_ref()).name("g", "s");
        for (name, content) in [("bare", secret.to_owned()), ("newline", format!("{secret}\n"))] {
            let path = dir.join(name);
            std::fs::write(&path, content).unwrap();
            let key = KeySource::File(path).load(no_aws()).await.unwrap();
            assert_eq!(sanitizer_core::StreamNamer::new(key.as_ref()).name("g", "s"), expected, "{name}");
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[tokio::test]
    async fn errors_name_the_file_and_kind_never_the_key() {
        let dir = std::env::temp_dir().join(format!("key-source-err-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = KeySource::File(dir.join("missing")).load(no_aws()).await.unwrap_err();
        assert!(matches!(missing, KeyLoadError::File { kind: std::io::ErrorKind::NotFound, .. }), "{missing:?}");
        assert!(missing.to_string().contains("missing"));
        let short = dir.join("short");
        std::fs::write(&short, "CANARY-short\n").unwrap();
        let err = KeySource::File(short).load(no_aws()).await.unwrap_err();
        assert_eq!(err, KeyLoadError::Key(KeyError::TooShort { len: 12 }));
        assert!(!format!("{err} {err:?}").contains("CANARY"));
        assert!(KeySource::Secret("arn:aws:secretsmanager:x".into()).needs_aws());
        assert!(!KeySource::None.needs_aws());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
