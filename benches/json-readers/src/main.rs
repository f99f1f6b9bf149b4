//! Each reader once on the decompressed payload of a workload envelope (`ONLY=<name>`, for
//! callgrind), or all of them timed (best of 15). `run.sh` prints the instruction counts.
use serde::Deserialize;
use std::borrow::Cow;
use std::io::Read;
use std::time::Instant;

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireA {
    message_type: String,
    log_events: Vec<EvA>,
}
#[derive(Deserialize)]
struct EvA {
    id: String,
    timestamp: i64,
    message: String,
}

/// The payload with its messages read as `M` (borrowed where the reader can).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", bound(deserialize = "M: Deserialize<'de>"))]
#[allow(dead_code, reason = "read to be measured")]
struct Wire<'a, M> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    log_events: Vec<Ev<'a, M>>,
}
#[derive(Deserialize)]
#[serde(bound(deserialize = "M: Deserialize<'de>"))]
#[allow(dead_code, reason = "read to be measured")]
struct Ev<'a, M> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    message: M,
}
type WireB<'a> = Wire<'a, &'a serde_json::value::RawValue>;
type WireS<'a> = Wire<'a, Cow<'a, str>>;
type WireL<'a> = Wire<'a, sonic_rs::LazyValue<'a>>;

/// `read` over every message, summed.
fn each(msgs: &[String], read: impl Fn(&str) -> usize) -> usize {
    msgs.iter().map(|m| read(m)).sum()
}

#[inline(never)]
fn measured<F: FnMut() -> usize>(f: &mut F) -> usize {
    f()
}
fn time<F: FnMut() -> usize>(name: &str, iters: usize, mut f: F) {
    if let Ok(only) = std::env::var("ONLY") {
        if name == only {
            println!("{}", std::hint::black_box(measured(&mut f)));
        }
        return;
    }
    let mut best = f64::MAX;
    let mut r = 0;
    for _ in 0..iters {
        let t = Instant::now();
        r += measured(&mut f);
        best = best.min(t.elapsed().as_secs_f64());
    }
    println!("{name:40} {:8.3} ms  ({r})", best * 1e3);
}

fn main() {
    let path = std::env::args().nth(1).unwrap();
    let env: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let gz = base64_simd::STANDARD.decode_to_vec(env["awslogs"]["data"].as_str().unwrap().as_bytes()).unwrap();
    let mut raw = Vec::new();
    flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut raw).unwrap();
    println!("payload {} bytes", raw.len());
    let it = 15;
    time("gunzip zlib-rs", it, || {
        let mut v = Vec::with_capacity(gz.len() * 4);
        flate2::read::MultiGzDecoder::new(&gz[..]).read_to_end(&mut v).unwrap();
        v.len()
    });
    time("libdeflate", it, || {
        let isize = u32::from_le_bytes(gz[gz.len() - 4..].try_into().unwrap()) as usize;
        let mut out = Vec::with_capacity(isize);
        out.resize(isize, 0);
        libdeflater::Decompressor::new().gzip_decompress(&gz, &mut out).unwrap()
    });
    time("A serde_json String messages", it, || {
        let w: WireA = serde_json::from_slice(&raw).unwrap();
        w.log_events.len() + w.message_type.len() + w.log_events[3].id.len() + w.log_events[2].timestamp as usize % 2
    });
    time("BR serde_json RawValue messages", it, || {
        let w: WireB = serde_json::from_slice(&raw).unwrap();
        w.log_events.len() + w.message_type.len()
    });
    time("sonic-rs Cow messages", it, || {
        let w: WireS = sonic_rs::from_slice(&raw).unwrap();
        w.log_events.len() + w.message_type.len()
    });
    time("sonic LazyValue only", it, || {
        let w: WireL = sonic_rs::from_slice(&raw).unwrap();
        w.log_events.len() + w.message_type.len()
    });
    time("sonic LazyValue + sonic unescape", it, || {
        let w: WireL = sonic_rs::from_slice(&raw).unwrap();
        let mut t = 0;
        for e in &w.log_events {
            let s: String = sonic_rs::from_str(e.message.as_raw_str()).unwrap();
            t += s.len();
        }
        t
    });
    time("simd-json Cow messages (incl copy)", it, || {
        let mut c = raw.clone();
        let w: WireS = simd_json::serde::from_slice(&mut c).unwrap();
        w.log_events.len() + w.message_type.len()
    });
    let w: WireA = serde_json::from_slice(&raw).unwrap();
    let msgs: Vec<String> = w.log_events.into_iter().map(|e| e.message).collect();
    time("M serde_json IgnoredAny", it, || {
        each(&msgs, |m| {
            serde_json::from_str::<serde::de::IgnoredAny>(m).unwrap();
            1
        })
    });
    time("M serde_json Map<&str, &RawValue> attrs", it, || {
        each(&msgs, |m| {
            let v: std::collections::BTreeMap<Cow<str>, &serde_json::value::RawValue> =
                serde_json::from_str(m).unwrap();
            v.len()
        })
    });
    time("M sonic IgnoredAny", it, || {
        each(&msgs, |m| {
            sonic_rs::from_str::<serde::de::IgnoredAny>(m).unwrap();
            1
        })
    });
    time("M sonic Map<Cow, LazyValue>", it, || {
        each(&msgs, |m| {
            let v: std::collections::BTreeMap<Cow<str>, sonic_rs::LazyValue> = sonic_rs::from_str(m).unwrap();
            v.len()
        })
    });
    time("M simd-json tape (incl copy)", it, || {
        each(&msgs, |m| {
            let mut c = m.as_bytes().to_vec();
            simd_json::to_tape(&mut c).unwrap().0.len()
        })
    });
    time("M jiter skip", it, || {
        each(&msgs, |m| {
            let mut j = jiter::Jiter::new(m.as_bytes());
            j.next_skip().unwrap();
            1
        })
    });
}
