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

fn separator(b: u8) -> bool {
    matches!(b, b'_' | b'-' | b'.' | b' ')
}

/// Per lowercase byte: the fragments (bits of [`SECRET_FRAGMENTS`]) it starts (`[0]`) and the
/// fragments it is the second letter of (`[1]`).
const LETTERS: [[u16; 256]; 2] = {
    let mut t = [[0u16; 256]; 2];
    let mut f = 0;
    while f < SECRET_FRAGMENTS.len() {
        let bytes = SECRET_FRAGMENTS[f].as_bytes();
        t[0][bytes[0] as usize] |= 1 << f;
        t[1][bytes[1] as usize] |= 1 << f;
        f += 1;
    }
    t
};

/// Whether `key` contains one of [`SECRET_FRAGMENTS`], ignoring case and separators (no copy:
/// separators are skipped as the fragments are compared).
pub(crate) fn is_secret_bytes(key: &[u8]) -> bool {
    let key = &key[..key.len().min(MAX_KEY)];
    for i in 0..key.len() {
        let first = LETTERS[0][usize::from(key[i].to_ascii_lowercase())];
        if first == 0 {
            continue;
        }
        // The fragments this letter and the next one (past separators) could begin.
        let mut j = i + 1;
        while j < key.len() && separator(key[j]) {
            j += 1;
        }
        let Some(&second) = key.get(j) else { return false };
        let mut candidates = first & LETTERS[1][usize::from(second.to_ascii_lowercase())];
        while candidates != 0 {
            let f = candidates.trailing_zeros() as usize;
            candidates &= candidates - 1;
            if fragment_at(key, j + 1, &SECRET_FRAGMENTS[f].as_bytes()[2..]) {
                return true;
            }
        }
    }
    false
}

/// Whether `fragment` is spelt from `key[i..]`, skipping separators, in any case.
fn fragment_at(key: &[u8], mut i: usize, fragment: &[u8]) -> bool {
    for &want in fragment {
        while i < key.len() && separator(key[i]) {
            i += 1;
        }
        match key.get(i) {
            Some(&b) if b.to_ascii_lowercase() == want => i += 1,
            _ => return false,
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::is_secret_bytes;

    fn is_secret(k: &str) -> bool {
        is_secret_bytes(k.as_bytes())
    }

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
