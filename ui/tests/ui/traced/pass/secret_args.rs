#![deny(warnings)]

use telemark::traced;

// Arguments and fields whose names look secret compile like any other: their values are masked
// as `[REDACTED]` on telemark's thread before anything is exported (`scrub:`).
#[traced]
fn login(user: &str, password: &str, api_key: String, session_token: Option<&str>) -> bool {
    !user.is_empty() && !password.is_empty() && !api_key.is_empty() && session_token.is_some()
}

#[traced(fields(authorization = header, cookie = "a=b"))]
fn forward(header: &str, Credentials { secret, .. }: Credentials) -> usize {
    header.len() + secret.len()
}

struct Credentials {
    secret: String,
    #[allow(dead_code)]
    client_id: u32,
}

// A type with neither `Display` nor `Debug` in a secret-looking argument: still fine.
struct PrivateKey;

#[traced]
fn sign(private_key: PrivateKey, message: &[u8]) -> usize {
    let PrivateKey = private_key;
    message.len()
}

fn main() {
    assert!(login("ann", "hunter2", "k".into(), Some("t")));
    let creds = Credentials { secret: "s3".into(), client_id: 1 };
    assert_eq!(forward("Bearer x", creds), 10);
    assert_eq!(sign(PrivateKey, b"abc"), 3);
}
