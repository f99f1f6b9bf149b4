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

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireB<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    log_events: Vec<EvB<'a>>,
}
#[derive(Deserialize)]
struct EvB<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    message: &'a serde_json::value::RawValue,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireS<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    log_events: Vec<EvS<'a>>,
}
#[derive(Deserialize)]
struct EvS<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireL<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    log_events: Vec<EvL<'a>>,
}
#[derive(Deserialize)]
struct EvL<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    message: sonic_rs::LazyValue<'a>,
}
/// Simple unescape of a JSON string literal body (between quotes) into out.
fn unescape(s: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    let mut i = 0;
    while i < s.len() {
        match memchr::memchr(b'\\', &s[i..]) {
            None => {
                out.extend_from_slice(&s[i..]);
                break;
            }
            Some(k) => {
                out.extend_from_slice(&s[i..i + k]);
                i += k + 1;
                let c = s[i];
                i += 1;
                let b = match c {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 8,
                    b'f' => 12,
                    b'u' => {
                        return false;
                    }
                    _ => return false,
                };
                out.push(b);
            }
        }
    }
    true
}

fn unescape_loop(s: &[u8], out: &mut Vec<u8>) -> bool {
    out.clear();
    out.reserve(s.len());
    let mut i = 0;
    let n = s.len();
    unsafe {
        let dst = out.as_mut_ptr();
        let mut o = 0;
        while i < n {
            let c = *s.get_unchecked(i);
            if c == b'\\' {
                let e = *s.get_unchecked(i + 1);
                let b = match e {
                    b'"' => b'"',
                    b'\\' => b'\\',
                    b'/' => b'/',
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'b' => 8,
                    b'f' => 12,
                    _ => return false,
                };
                *dst.add(o) = b;
                o += 1;
                i += 2;
            } else {
                *dst.add(o) = c;
                o += 1;
                i += 1;
            }
        }
        out.set_len(o);
    }
    true
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
    time("B + memchr unescape", it, || {
        let w: WireB = serde_json::from_slice(&raw).unwrap();
        let mut out = Vec::new();
        let mut t = 0;
        for e in &w.log_events {
            let s = e.message.get().as_bytes();
            assert!(unescape(&s[1..s.len() - 1], &mut out));
            t += std::str::from_utf8(&out).unwrap().len();
        }
        t
    });
    time("B + loop unescape", it, || {
        let w: WireB = serde_json::from_slice(&raw).unwrap();
        let mut out = Vec::new();
        let mut t = 0;
        for e in &w.log_events {
            let s = e.message.get().as_bytes();
            assert!(unescape_loop(&s[1..s.len() - 1], &mut out));
            t += std::str::from_utf8(&out).unwrap().len();
        }
        t
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
        msgs.iter()
            .map(|m| {
                serde_json::from_str::<serde::de::IgnoredAny>(m).unwrap();
                1
            })
            .sum()
    });
    time("M serde_json Map<&str, &RawValue> attrs", it, || {
        msgs.iter()
            .map(|m| {
                let v: std::collections::BTreeMap<Cow<str>, &serde_json::value::RawValue> =
                    serde_json::from_str(m).unwrap();
                v.len()
            })
            .sum()
    });
    time("M sonic IgnoredAny", it, || {
        msgs.iter()
            .map(|m| {
                sonic_rs::from_str::<serde::de::IgnoredAny>(m).unwrap();
                1
            })
            .sum()
    });
    time("M sonic Map<Cow, LazyValue>", it, || {
        msgs.iter()
            .map(|m| {
                let v: std::collections::BTreeMap<Cow<str>, sonic_rs::LazyValue> = sonic_rs::from_str(m).unwrap();
                v.len()
            })
            .sum()
    });
    time("M simd-json tape (incl copy)", it, || {
        msgs.iter()
            .map(|m| {
                let mut c = m.as_bytes().to_vec();
                simd_json::to_tape(&mut c).unwrap().0.len()
            })
            .sum()
    });
    time("M jiter skip", it, || {
        msgs.iter()
            .map(|m| {
                let mut j = jiter::Jiter::new(m.as_bytes());
                j.next_skip().unwrap();
                1
            })
            .sum()
    });
}
