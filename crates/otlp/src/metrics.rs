//! Metrics: one OTLP/HTTP metrics request body in, sanitized metric lines and counts out.
//!
//! Each data point, with its metric's name and kind and its resource, becomes a
//! [`MetricPoint`] that sanitizer-core's allowlist (`[metrics]`) keeps or drops with a reason
//! ([`sanitizer_core::Batch::push_point`]). Its `sourceEventId` is a keyed digest
//! ([`RecordIds`]) of the point as received (resource, scope, metric name and kind, the point
//! itself, in their protobuf encoding), so a batch the client re-sends after a timeout gives the
//! same ids, in protobuf or JSON alike.
//!
//! Trusts the [`Sanitizer`] it is handed; nothing in the body. Guarantees: every data point of
//! the request (of any metric kind) is written or counted as dropped with a reason
//! (`received == written + dropped`); an error names a kind, never content.

use crate::body::{BodyError, decode_metrics};
use crate::record_id::RecordIds;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{AggregationTemporality, Metric, metric, number_data_point};
use prost::Message as _;
use sanitizer_core::{AttributeValue, MetricPoint, MetricShape, PointValue, PseudonymKey, SanitizedPayload, Sanitizer};

/// Reads metrics request bodies under a size cap and gives each data point its keyed id.
#[derive(Clone, Debug)]
pub struct MetricsReceiver {
    ids: RecordIds,
    max_decompressed: usize,
}

impl MetricsReceiver {
    /// `key`: the pseudonym key the sanitizer was built with (the ids are keyed by it);
    /// `max_decompressed`: the cap on a body and on what it decompresses to
    /// ([`crate::DEFAULT_MAX_REQUEST_BYTES`] unless told otherwise).
    pub fn new(key: Option<&PseudonymKey>, max_decompressed: usize) -> Self {
        MetricsReceiver { ids: RecordIds::new(key), max_decompressed }
    }

    /// Decodes a request body (protobuf or JSON, gzip or not: told by its content) and
    /// sanitizes every data point. `received_ms`: the time the request arrived, the line time of
    /// a point with no time of its own. The payload counts one payload.
    pub fn sanitize(
        &self,
        sanitizer: &Sanitizer,
        body: &[u8],
        received_ms: i64,
    ) -> Result<SanitizedPayload, BodyError> {
        let request = decode_metrics(body, self.max_decompressed)?;
        Ok(self.sanitize_request(sanitizer, &request, received_ms))
    }

    /// [`MetricsReceiver::sanitize`] for a request already decoded.
    pub fn sanitize_request(
        &self,
        sanitizer: &Sanitizer,
        request: &ExportMetricsServiceRequest,
        received_ms: i64,
    ) -> SanitizedPayload {
        let mut batch = sanitizer.batch();
        let mut identity = Vec::new();
        for resource_metrics in &request.resource_metrics {
            let resource_attributes =
                resource_metrics.resource.as_ref().map(|r| attributes(&r.attributes)).unwrap_or_default();
            let resource_bytes = resource_metrics.resource.as_ref().map(|r| r.encode_to_vec()).unwrap_or_default();
            for scope_metrics in &resource_metrics.scope_metrics {
                let scope_bytes = scope_metrics.scope.as_ref().map(|s| s.encode_to_vec()).unwrap_or_default();
                for metric in &scope_metrics.metrics {
                    let shape = shape(metric);
                    let mut each = |value: PointValue, attrs: &[KeyValue], start: u64, time: u64, point: &[u8]| {
                        let point_attributes = attributes(attrs);
                        identity.clear();
                        for part in
                            [&resource_bytes[..], &scope_bytes, metric.name.as_bytes(), &[shape_tag(shape)], point]
                        {
                            identity.extend_from_slice(&(part.len() as u64).to_be_bytes());
                            identity.extend_from_slice(part);
                        }
                        let id = self.ids.id(&identity);
                        let point = MetricPoint {
                            name: &metric.name,
                            shape,
                            value,
                            attributes: &point_attributes,
                            resource: &resource_attributes,
                            start_time_unix_nano: start,
                            time_unix_nano: time,
                        };
                        batch.push_point(&point, &id, received_ms);
                    };
                    match &metric.data {
                        Some(metric::Data::Sum(sum)) => {
                            for p in &sum.data_points {
                                let value = match p.value {
                                    Some(number_data_point::Value::AsDouble(x)) => PointValue::Double(x),
                                    Some(number_data_point::Value::AsInt(n)) => PointValue::Int(n),
                                    None => PointValue::Missing,
                                };
                                each(
                                    value,
                                    &p.attributes,
                                    p.start_time_unix_nano,
                                    p.time_unix_nano,
                                    &p.encode_to_vec(),
                                );
                            }
                        }
                        Some(metric::Data::Gauge(gauge)) => {
                            for p in &gauge.data_points {
                                each(PointValue::Missing, &p.attributes, 0, p.time_unix_nano, &p.encode_to_vec());
                            }
                        }
                        Some(metric::Data::Histogram(h)) => {
                            for p in &h.data_points {
                                each(PointValue::Missing, &p.attributes, 0, p.time_unix_nano, &p.encode_to_vec());
                            }
                        }
                        Some(metric::Data::ExponentialHistogram(h)) => {
                            for p in &h.data_points {
                                each(PointValue::Missing, &p.attributes, 0, p.time_unix_nano, &p.encode_to_vec());
                            }
                        }
                        Some(metric::Data::Summary(s)) => {
                            for p in &s.data_points {
                                each(PointValue::Missing, &p.attributes, 0, p.time_unix_nano, &p.encode_to_vec());
                            }
                        }
                        // A metric with no data has no point to count.
                        None => {}
                    }
                }
            }
        }
        let mut out = batch.finish();
        out.counts.payloads = 1;
        out
    }
}

/// The data points a request carries, of every metric kind: what `received` counts.
pub fn data_points(request: &ExportMetricsServiceRequest) -> usize {
    let points = |m: &Metric| match &m.data {
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Histogram(h)) => h.data_points.len(),
        Some(metric::Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(metric::Data::Summary(s)) => s.data_points.len(),
        None => 0,
    };
    request.resource_metrics.iter().flat_map(|r| &r.scope_metrics).flat_map(|s| &s.metrics).map(points).sum()
}

fn shape(metric: &Metric) -> MetricShape {
    match &metric.data {
        Some(metric::Data::Sum(sum)) => {
            MetricShape::Sum { delta: sum.aggregation_temporality == AggregationTemporality::Delta as i32 }
        }
        Some(metric::Data::Gauge(_)) => MetricShape::Gauge,
        Some(metric::Data::Histogram(_)) => MetricShape::Histogram,
        Some(metric::Data::ExponentialHistogram(_)) => MetricShape::ExponentialHistogram,
        Some(metric::Data::Summary(_)) => MetricShape::Summary,
        None => MetricShape::Empty,
    }
}

/// One byte per kind (and temporality), so the same point under another kind has another id.
fn shape_tag(shape: MetricShape) -> u8 {
    match shape {
        MetricShape::Sum { delta: true } => 1,
        MetricShape::Sum { delta: false } => 2,
        MetricShape::Gauge => 3,
        MetricShape::Histogram => 4,
        MetricShape::ExponentialHistogram => 5,
        MetricShape::Summary => 6,
        MetricShape::Empty => 7,
    }
}

fn attributes(list: &[KeyValue]) -> Vec<(&str, AttributeValue<'_>)> {
    list.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => AttributeValue::Str(s),
                Some(any_value::Value::BoolValue(b)) => AttributeValue::Bool(*b),
                Some(any_value::Value::IntValue(n)) => AttributeValue::Int(*n),
                Some(any_value::Value::DoubleValue(x)) => AttributeValue::Double(*x),
                _ => AttributeValue::Other,
            };
            (kv.key.as_str(), value)
        })
        .collect()
}
