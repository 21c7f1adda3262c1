//! What the server and the client share: HTTP methods as the semantic conventions name them, the
//! call sites made for them, and the pieces of a URL that are recorded.

use telemark_runtime::{Callsite, Level, SiteMeta, SpanKind};

/// The methods the HTTP semantic conventions know, then `_OTHER` (index [`OTHER`]).
pub(crate) const METHODS: [&str; 10] =
    ["CONNECT", "DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT", "TRACE", "_OTHER"];

/// The index of `_OTHER` in [`METHODS`].
pub(crate) const OTHER: usize = 9;

/// A method's index in [`METHODS`]: `_OTHER` for one the conventions do not know.
pub(crate) fn method_index(m: &http::Method) -> usize {
    METHODS[..OTHER].iter().position(|k| *k == m.as_str()).unwrap_or(OTHER)
}

/// What a span name starts with: the method, or `HTTP` for an unknown one (as the conventions say).
#[cfg(any(feature = "tower", test))]
pub(crate) fn name_prefix(index: usize) -> &'static str {
    if index == OTHER {
        "HTTP"
    } else {
        METHODS[index]
    }
}

/// Records `http.request.method` (and `http.request.method_original` for an unknown method).
pub(crate) fn record_method(rec: &mut telemark_runtime::Recorder<'_>, m: &http::Method, index: usize) {
    rec.str("http.request.method", METHODS[index]);
    if index == OTHER {
        rec.str("http.request.method_original", m.as_str());
    }
}

/// A call site that is not a function: no file, so its spans carry no `code.*` attributes.
pub(crate) const fn site(
    name: &'static str,
    function: &'static str,
    target: &'static str,
    kind: SpanKind,
    keys: &'static [&'static str],
) -> Callsite {
    Callsite::new(SiteMeta {
        name,
        function,
        target,
        file: "",
        line: 0,
        level: Level::Info,
        kind,
        sample: 1.0,
        keys,
        span: true,
    })
}

/// `network.protocol.version` of a request or response.
pub(crate) fn protocol_version(v: http::Version) -> Option<&'static str> {
    Some(match v {
        http::Version::HTTP_09 => "0.9",
        http::Version::HTTP_10 => "1.0",
        http::Version::HTTP_11 => "1.1",
        http::Version::HTTP_2 => "2",
        http::Version::HTTP_3 => "3",
        _ => return None,
    })
}

/// A host as `server.address` has it: an IPv6 address without its brackets.
pub(crate) fn bare_host(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

/// The default port of a scheme.
pub(crate) fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" | "ws" => Some(80),
        "https" | "wss" => Some(443),
        _ => None,
    }
}

/// The query keys the semantic conventions name as carrying signatures (`url.full`), beyond
/// the words [`telemark_runtime::is_secret_key`] finds in a key (`token`, `auth`, `secret`, ...).
const SIGNATURE_KEYS: &[&str] = &["awsaccesskeyid", "signature", "sig", "x-goog-signature"];

fn secret_key(key: &str) -> bool {
    telemark_runtime::is_secret_key(key) || SIGNATURE_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// `scheme://host[:port]/path[?query]` for `url.full`: no user info (never recorded), no
/// fragment, and in the query the value of every key that may name a secret replaced by
/// `[REDACTED]`, the scrubber's marker.
pub(crate) fn full_url(
    scheme: &str,
    host: &str,
    port: Option<u16>,
    path: &str,
    query: Option<&str>,
) -> String {
    let mut out = String::with_capacity(scheme.len() + host.len() + path.len() + 16);
    out.push_str(scheme);
    out.push_str("://");
    out.push_str(host);
    if let Some(p) = port {
        out.push(':');
        out.push_str(&p.to_string());
    }
    out.push_str(if path.is_empty() { "/" } else { path });
    if let Some(q) = query.filter(|q| !q.is_empty()) {
        out.push('?');
        for (i, pair) in q.split('&').enumerate() {
            if i > 0 {
                out.push('&');
            }
            match pair.split_once('=') {
                Some((k, _)) if secret_key(k) => {
                    out.push_str(k);
                    out.push('=');
                    out.push_str(telemark_runtime::REDACTED);
                }
                _ => out.push_str(pair),
            }
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn methods_the_conventions_know_and_the_others() {
        assert_eq!(METHODS[method_index(&http::Method::GET)], "GET");
        assert_eq!(METHODS[method_index(&http::Method::PATCH)], "PATCH");
        let odd = http::Method::from_bytes(b"PURGE").unwrap();
        assert_eq!(METHODS[method_index(&odd)], "_OTHER");
        assert_eq!(name_prefix(method_index(&odd)), "HTTP");
    }

    #[test]
    fn full_urls_lose_user_info_fragments_and_secret_query_values() {
        assert_eq!(
            full_url(
                "https",
                "api.example.com",
                None,
                "/v1/x",
                Some("a=1&api_key=s3cr3t&Signature=zz&sig=q&b")
            ),
            "https://api.example.com/v1/x?a=1&api_key=[REDACTED]&Signature=[REDACTED]&sig=[REDACTED]&b"
        );
        assert_eq!(full_url("http", "[::1]", Some(8080), "", None), "http://[::1]:8080/");
        assert_eq!(bare_host("[::1]"), "::1");
    }
}
