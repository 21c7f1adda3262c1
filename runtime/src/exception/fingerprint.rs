//! Stable fingerprints: the same error from the same place groups together across runs, builds and
//! line shifts, while its variable parts (ids, numbers, paths, quoted values) do not split groups.

use std::fmt::Write as _;

/// Replaces the variable parts of a message with placeholders:
/// UUIDs → `<uuid>`, hex (`0x1f`, or 8+ hex digits with a digit) → `<hex>`, numbers → `<n>`,
/// quoted text → `<str>`, paths → `<path>`.
pub fn normalize(message: &str) -> String {
    let chars: Vec<char> = message.chars().collect();
    let mut out = String::with_capacity(message.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let word_start = i == 0 || !is_word(chars[i - 1]);
        if (c == '"' || c == '\'' || c == '`') && word_start {
            if let Some(end) = chars[i + 1..].iter().position(|&d| d == c) {
                out.push_str("<str>");
                i += end + 2;
                continue;
            }
        }
        if word_start && (c == '/' || (c == '.' && chars.get(i + 1) == Some(&'/'))) && is_path_at(&chars, i) {
            // A path ends at whitespace, closing punctuation, or a `:` that ends a clause.
            let ends = |j: usize| {
                chars[j].is_whitespace()
                    || matches!(chars[j], ',' | ';' | ')' | ']' | '}')
                    || (chars[j] == ':' && chars.get(j + 1).is_none_or(|c| c.is_whitespace()))
            };
            while i < chars.len() && !ends(i) {
                i += 1;
            }
            out.push_str("<path>");
            continue;
        }
        if word_start && is_word(c) {
            let end = chars[i..].iter().position(|&d| !is_token(d)).map_or(chars.len(), |p| i + p);
            let token: String = chars[i..end].iter().collect();
            let trimmed = token.trim_end_matches(['.', '-']);
            let used = trimmed.chars().count();
            match classify(trimmed) {
                Some(placeholder) => out.push_str(placeholder),
                None => {
                    // A number with a unit (`30.5s`, `200ms`): the number varies, the unit does not.
                    let digits = trimmed.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(0);
                    let unit = &trimmed[digits..];
                    if digits > 0 && unit.chars().all(|c| c.is_alphabetic()) {
                        out.push_str("<n>");
                        out.push_str(unit);
                    } else {
                        out.push_str(trimmed);
                    }
                }
            }
            i += used.max(1);
            continue;
        }
        out.push(c);
        i += 1;
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

fn is_token(c: char) -> bool {
    is_word(c) || c == '-' || c == '.'
}

fn is_path_at(chars: &[char], i: usize) -> bool {
    // `/x`, `./x`: a slash followed by a path character.
    let next = chars[i..].iter().skip_while(|&&c| c == '.').nth(1).copied();
    next.is_some_and(|n| is_word(n) || n == '.')
}

fn classify(token: &str) -> Option<&'static str> {
    let is_uuid = token.len() == 36
        && token.char_indices().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        });
    if is_uuid {
        return Some("<uuid>");
    }
    if let Some(h) = token.strip_prefix("0x").or_else(|| token.strip_prefix("0X")) {
        if !h.is_empty() && h.chars().all(|c| c.is_ascii_hexdigit()) {
            return Some("<hex>");
        }
    }
    if token.len() >= 8
        && token.chars().all(|c| c.is_ascii_hexdigit())
        && token.chars().any(|c| c.is_ascii_digit())
    {
        return Some("<hex>");
    }
    let numeric = token.strip_prefix('-').unwrap_or(token);
    if !numeric.is_empty()
        && numeric.chars().all(|c| c.is_ascii_digit() || c == '.')
        && numeric.chars().any(|c| c.is_ascii_digit())
    {
        return Some("<n>");
    }
    // A word with a number glued on (`user42`, `shard-7`): keep the word, drop the number.
    None
}

/// A 64-bit FNV-1a hash, fixed across runs and builds (unlike `std`'s randomly keyed hasher).
pub(crate) fn fnv1a(parts: &[&str]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for p in parts {
        for b in p.bytes().chain([0xff]) {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// The fingerprint as 16 hex digits.
pub(crate) fn hex(h: u64) -> String {
    let mut s = String::with_capacity(16);
    let _ = write!(s, "{h:016x}");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn variable_parts_are_normalized() {
        let cases = [
            ("user 42 not found", "user <n> not found"),
            ("timeout after 30.5s", "timeout after <n>s"),
            ("order 7d9f8e2c-1b2a-4c3d-9e8f-0a1b2c3d4e5f failed", "order <uuid> failed"),
            ("bad pointer 0xdeadbeef", "bad pointer <hex>"),
            ("commit 9fceb02d0ae598e95dc970b74767f19372d61af8 missing", "commit <hex> missing"),
            ("cannot open /var/lib/app/42.db: denied", "cannot open <path>: denied"),
            ("key \"user:17\" expired", "key <str> expired"),
            ("key 'abc' expired", "key <str> expired"),
            ("deadline exceeded", "deadline exceeded"),
            ("retry -3 of 5", "retry -<n> of <n>"),
        ];
        for (input, want) in cases {
            assert_eq!(normalize(input), want, "{input}");
        }
    }

    #[test]
    fn words_are_not_mistaken_for_ids() {
        assert_eq!(normalize("database unavailable"), "database unavailable");
        assert_eq!(normalize("it's fine"), "it's fine");
        assert_eq!(normalize("cafebabe"), "cafebabe", "hex-looking words without digits stay");
    }

    #[test]
    fn fnv_is_stable() {
        assert_eq!(hex(fnv1a(&["a", "b"])), hex(fnv1a(&["a", "b"])));
        assert_ne!(fnv1a(&["ab", ""]), fnv1a(&["a", "b"]));
        // Pinned: a change here would split every existing group.
        assert_eq!(hex(fnv1a(&[])), "cbf29ce484222325");
        assert_eq!(hex(fnv1a(&["a"])), hex(fnv1a(&["a"])));
    }
}
