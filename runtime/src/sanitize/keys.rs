//! Which keys name a secret: an attribute's key, a field name in `Debug` output, a query
//! parameter, a header name.

/// Key fragments whose values are secrets: Sentry's default list (`password`, `passwd`, `pwd`,
/// `secret`, `api_key`, `apikey`, `auth`, `authorization`, `credentials`, `private_key`,
/// `privatekey`, `token`, `access_token`, `bearer`, `cookie`, `set-cookie`, `session`,
/// `mysql_pwd`), compared with the key lowercased and stripped of `_`, `-`, `.` and spaces — so
/// `api_key`, `Api-Key` and `x-api-key` all contain `apikey`, and the longer names of the list
/// are covered by the shorter ones they contain.
pub(crate) const SECRET_FRAGMENTS: &[&str] = &[
    "password",
    "passwd",
    "pwd",
    "secret",
    "apikey",
    "auth",
    "credential",
    "privatekey",
    "token",
    "bearer",
    "cookie",
    "session",
];

/// The longest key looked at: a longer one is compared by its first this many bytes.
const MAX_KEY: usize = 128;

/// Whether `key` contains one of [`SECRET_FRAGMENTS`], ignoring case and separators.
pub(crate) fn is_secret(key: &str) -> bool {
    let mut norm = [0u8; MAX_KEY];
    let mut n = 0;
    for &b in key.as_bytes() {
        if n == MAX_KEY {
            break;
        }
        if matches!(b, b'_' | b'-' | b'.' | b' ') {
            continue;
        }
        norm[n] = b.to_ascii_lowercase();
        n += 1;
    }
    let norm = &norm[..n];
    // Every fragment starts with one of these letters: most keys are rejected by a byte scan.
    norm.iter().enumerate().any(|(i, &b)| {
        matches!(b, b'p' | b's' | b'a' | b'c' | b't' | b'b')
            && SECRET_FRAGMENTS.iter().any(|f| norm[i..].starts_with(f.as_bytes()))
    })
}

#[cfg(test)]
mod tests {
    use super::is_secret;

    #[test]
    fn sentry_list_and_its_spellings() {
        for k in [
            "password",
            "PASSWD",
            "db_pwd",
            "client_secret",
            "api_key",
            "ApiKey",
            "x-api-key",
            "auth",
            "Authorization",
            "proxy-authorization",
            "credentials",
            "private_key",
            "privateKey",
            "token",
            "access_token",
            "X-CSRF-Token",
            "bearer",
            "cookie",
            "Set-Cookie",
            "session",
            "sessionid",
            "mysql_pwd",
            "http.request.header.authorization",
        ] {
            assert!(is_secret(k), "{k}");
        }
        for k in
            ["user", "user.id", "code.function.name", "message", "exception.type", "url.path", "count", "key"]
        {
            assert!(!is_secret(k), "{k}");
        }
    }
}
