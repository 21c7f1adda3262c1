//! `tracing.code_attributes`: which `code.*` attributes a span carries in each mode, checked on
//! what an OTLP/gRPC receiver got, and what each mode costs on the wire per span (printed: run
//! with `--nocapture`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark_tests as support;

use prost::Message;
use support::Receiver;
use telemark::config::CodeAttributes;
use telemark::{traced, Config, Protocol};

#[traced]
fn load(id: u64) -> u64 {
    id + 1
}

#[traced(name = "db.save")]
fn save(id: u64) -> u64 {
    id + 2
}

/// A span as the receiver got it: its name, its `code.*` attributes (key, value) and the size of
/// its `Span` message (without its field tag and length).
type Got = (String, Vec<(String, String)>, usize);

/// The spans of one pipeline with `mode` (`None`: the default).
fn run(mode: Option<CodeAttributes>) -> Vec<Got> {
    let rx = Receiver::start();
    let mut config =
        Config::default().service_name("code-attributes").otlp(rx.grpc_endpoint(), Protocol::Grpc);
    if let Some(mode) = mode {
        config.tracing.code_attributes = mode;
    }
    let guard = telemark::init(config).expect("init");
    load(1);
    save(2);
    assert!(telemark::flush(telemark::QUERY_WAIT), "telemark's thread is stuck");
    drop(guard);
    let mut out = Vec::new();
    for request in rx.raw_trace_requests() {
        for rs in request.resource_spans {
            for ss in rs.scope_spans {
                for s in ss.spans {
                    let code = s
                        .attributes
                        .iter()
                        .filter(|kv| kv.key.starts_with("code."))
                        .map(|kv| {
                            (
                                kv.key.clone(),
                                format!("{:?}", kv.value.as_ref().and_then(|v| v.value.as_ref())),
                            )
                        })
                        .collect();
                    out.push((s.name.clone(), code, s.encoded_len()));
                }
            }
        }
    }
    out.sort();
    out
}

fn keys(code: &[(String, String)]) -> Vec<&str> {
    code.iter().map(|(k, _)| k.as_str()).collect()
}

#[test]
fn each_mode_sends_its_attributes() {
    let short = run(None);
    let full = run(Some(CodeAttributes::Full));
    let off = run(Some(CodeAttributes::Off));
    let names: Vec<&str> = short.iter().map(|s| s.0.as_str()).collect();
    assert_eq!(names, ["db.save", "load"]);

    // The default, `short`: file and line; the function only for the span not named after it.
    assert_eq!(keys(&short[1].1), ["code.file.path", "code.line.number"]);
    assert_eq!(keys(&short[0].1), ["code.function.name", "code.file.path", "code.line.number"]);
    assert!(short[0].1[0].1.contains("code_attributes::save"), "{:?}", short[0].1);
    assert!(short[1].1[0].1.contains("tests/code_attributes.rs"), "{:?}", short[1].1);
    // `full`: all three on both.
    for (_, code, _) in &full {
        assert_eq!(keys(code), ["code.function.name", "code.file.path", "code.line.number"]);
    }
    assert!(full[1].1[0].1.contains("code_attributes::load"), "{:?}", full[1].1);
    // `off`: none.
    assert!(off.iter().all(|(_, code, _)| code.is_empty()), "{off:?}");

    // The span of `load` is the same but for its `code.*` attributes: what each mode costs.
    let (s, f, o) = (short[1].2, full[1].2, off[1].2);
    assert!(o < s && s < f, "off {o}, short {s}, full {f}");
    println!("bytes per span (`load`, one u64 argument): full {f}, short {s}, off {o}");
}
