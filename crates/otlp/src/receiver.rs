//! Both signals behind one reader: what the endpoint does per path, and what the CLI's
//! `sanitize --otlp` does per file (which has no path, so the body tells: [`decode_any`]).

use crate::body::{BodyError, Request, decode_any};
use crate::logs::LogsReceiver;
use crate::metrics::MetricsReceiver;
use sanitizer_core::{PseudonymKey, SanitizedPayload, Sanitizer};

/// A logs and a metrics receiver with one key and one cap.
#[derive(Clone, Debug)]
pub struct Receiver {
    pub logs: LogsReceiver,
    pub metrics: MetricsReceiver,
    max_decompressed: usize,
}

impl Receiver {
    pub fn new(key: Option<&PseudonymKey>, max_decompressed: usize) -> Self {
        Receiver {
            logs: LogsReceiver::new(key, max_decompressed),
            metrics: MetricsReceiver::new(key, max_decompressed),
            max_decompressed,
        }
    }

    /// A logs or a metrics request body, told apart by its content ([`decode_any`]), sanitized
    /// as the endpoint sanitizes it on its own path.
    pub fn sanitize_any(
        &self,
        sanitizer: &Sanitizer,
        body: &[u8],
        received_ms: i64,
    ) -> Result<SanitizedPayload, BodyError> {
        Ok(match decode_any(body, self.max_decompressed)? {
            Request::Logs(request) => self.logs.sanitize_request(sanitizer, &request, received_ms),
            Request::Metrics(request) => self.metrics.sanitize_request(sanitizer, &request, received_ms),
        })
    }
}
