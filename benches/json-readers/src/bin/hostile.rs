//! simd-json on hostile payloads: `hostile zeros N` (an ignored array of N zeros), `objs N`,
//! `deep N` (N nested arrays). Run under `/usr/bin/time -f %M` for the peak RSS.
use std::borrow::Cow;
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
#[allow(dead_code)]
struct W<'a> {
    #[serde(borrow)]
    message_type: Cow<'a, str>,
    #[serde(borrow)]
    log_events: Vec<Ev<'a>>,
}
#[derive(serde::Deserialize)]
#[allow(dead_code)]
struct Ev<'a> {
    #[serde(borrow)]
    id: Cow<'a, str>,
    timestamp: i64,
    #[serde(borrow)]
    message: Cow<'a, str>,
}
fn main() {
    let kind = std::env::args().nth(1).unwrap();
    let n: usize = std::env::args().nth(2).unwrap().parse().unwrap();
    let filler = match kind.as_str() {
        "zeros" => "0,".repeat(n) + "0",
        "deep" => "[".repeat(n) + &"]".repeat(n),
        "objs" => "{},".repeat(n) + "{}",
        _ => panic!(),
    };
    let json = if kind == "deep" {
        format!(r#"{{"messageType":"DATA_MESSAGE","x":{filler},"logEvents":[]}}"#)
    } else {
        format!(r#"{{"messageType":"DATA_MESSAGE","x":[{filler}],"logEvents":[]}}"#)
    };
    let mut b = json.into_bytes();
    eprintln!("len {}", b.len());
    let r: Result<W, _> = simd_json::serde::from_slice(&mut b);
    eprint!("parsed: {} ", r.is_ok());
}
