//! simd-json on hostile payloads: `hostile zeros N` (an ignored array of N zeros), `objs N`,
//! `deep N` (N nested arrays). Run under `/usr/bin/time -f %M` for the peak RSS.
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
    // The tape is built before anything is visited, so ignoring every value still builds it.
    let r: Result<serde::de::IgnoredAny, _> = simd_json::serde::from_slice(&mut b);
    eprint!("parsed: {} ", r.is_ok());
}
