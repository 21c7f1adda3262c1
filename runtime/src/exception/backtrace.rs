//! Stack traces of exceptions, with std's [`Backtrace`] (its symboliser is the one every Rust binary
//! already links for panic messages): taken unresolved on the user's thread ([`capture`]: return
//! addresses, no symbols), symbolised later on telemark's own thread ([`frames_of`]) into
//! [`StackFrame`]s, split into application and library frames, rendered as `exception.stacktrace`,
//! and reduced to the function names that fingerprint an exception.
//!
//! std has one global lock for both. A capture holds it for the stack walk (a few µs); a
//! symbolisation holds it while it resolves every frame of one backtrace (about 15 µs for 20 frames
//! once warm; the process's first also loads the debug info: about a millisecond for a small
//! release build, tens of ms when libc's debug symbols are installed, seconds for a large debug
//! build). A thread capturing an error while telemark's thread symbolises another waits for that
//! backtrace. Only the first 16 occurrences a second of one error take a backtrace (see
//! `capture::burst`), which bounds how often telemark's thread takes the lock. The lock is not
//! re-entrant: a panic raised inside std's backtrace code must reach nothing that takes it again
//! ([`inside_std`]); telemark's own threads never capture through the panic hook at all.
//!
//! `Backtrace::frames()` is unstable, so the text std writes is parsed ([`parse`]): the full form
//! (`{:#}`) for telemark's own captures (absolute paths, as the debug info has them), the short one
//! (`{}`) for an `anyhow::Error`'s own backtrace:
//!
//! ```text
//!    4: app::main
//!              at ./src/main.rs:12:14
//!    8:     0x55cde72a6776 - app::main::h9092ca9ddf21704b
//!                                at /home/me/app/src/main.rs:12:14
//!   26:                0x0 - <unknown>
//! ```
//!
//! The short form leaves out the capture's own frames, addresses and `::h…` hashes, and makes paths
//! relative to the current directory (it does not cut at `__rust_begin_short_backtrace`); the full form
//! starts at std's own capture frames and writes names as demangled without the alternate flag: with
//! `::h…` hashes, crate disambiguators (`std[e28293b1aa0f68bd]::rt`) and integer types after
//! constants (`foo::<3usize>`), which [`parse`] removes. Inlined frames get a line of their own, with
//! the address of their caller; frames without debug info have no `at` line.

use std::backtrace::{Backtrace, BacktraceStatus};
use std::cell::Cell;
use std::fmt::Write as _;

/// Most frames kept by [`frames_of`]; deeper ones are cut.
pub const MAX_FRAMES: usize = 128;
/// Most function names returned by [`fingerprint_functions`].
pub const MAX_FINGERPRINT_FUNCTIONS: usize = 32;
/// Crates that are not the application: the standard library, the test harness, async runtimes,
/// HTTP/RPC stacks, tracing, OpenTelemetry, telemark itself, error helpers, thread pools, benchmarks.
#[rustfmt::skip]
pub const LIBRARY_CRATES: &[&str] = &[
    "std", "core", "alloc", "proc_macro", "test", "__rustc", "tokio", "tokio_util", "futures", "futures_util",
    "futures_core", "futures_executor", "async_trait", "hyper", "h2", "tower", "tonic", "http", "tracing",
    "tracing_core", "tracing_subscriber", "anyhow", "thiserror", "backtrace", "rayon", "rayon_core",
    "criterion", "minstant", "rtrb",
];
/// Prefixes of library crate names (`opentelemetry_sdk`, `crossbeam_epoch`).
pub const LIBRARY_CRATE_PREFIXES: &[&str] = &["opentelemetry", "crossbeam"];
/// telemark's own crates: library code, except their unit tests (paths with `::tests::`), which are
/// in-app so that telemark can test itself.
pub const TELEMARK_CRATES: &[&str] = &["telemark", "telemark_runtime", "telemark_macros"];
/// Symbols that are not Rust paths: unwinding, the C `main` shim, libc and thread start.
#[rustfmt::skip]
pub const RUNTIME_SYMBOLS: &[&str] = &[
    "rust_begin_unwind", "rust_panic", "main", "_start", "__libc_start_main", "__libc_start_main_impl",
    "__libc_start_call_main", "start_thread", "clone", "clone3", "<unknown>",
];
/// Prefixes of such symbols (`__rust_try`, `__GI___clone`).
pub const RUNTIME_SYMBOL_PREFIXES: &[&str] = &["__rust_", "__GI_"];
/// Symbols where a thread or the program starts; [`frames_of`] drops them and all below.
#[rustfmt::skip]
pub const START_SYMBOLS: &[&str] = &[
    "_start", "__libc_start_main", "__libc_start_main_impl", "__libc_start_call_main", "start_thread",
    "clone", "clone3", "thread_start", "_pthread_start", "BaseThreadInitThunk", "RtlUserThreadStart",
];
#[rustfmt::skip]
const PRIMITIVES: &[&str] = &[
    "bool", "char", "str", "u8", "u16", "u32", "u64", "u128", "usize", "i8", "i16", "i32", "i64", "i128",
    "isize", "f32", "f64",
];

/// One frame of a backtrace.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StackFrame {
    /// The demangled function, without symbol hash (`app::db::query`, `<app::Job as Future>::poll`).
    pub function: String,
    /// Its source file, when there is debug info.
    pub file: Option<String>,
    /// Its line.
    pub line: Option<u32>,
    /// Its column.
    pub column: Option<u32>,
    /// Whether it is the application's code (see [`is_in_app`]).
    pub in_app: bool,
}

/// Parses the `Display` text of a std `Backtrace` (either form). Never panics; lines that are not
/// frames (`disabled backtrace`, notes) are skipped.
pub fn parse(text: &str) -> Vec<StackFrame> {
    let mut frames: Vec<StackFrame> = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(location) = trimmed.strip_prefix("at ") {
            if let Some(f) = frames.last_mut().filter(|f| f.file.is_none()) {
                (f.file, f.line, f.column) = parse_location(location);
            }
            continue;
        }
        let rest = match trimmed.split_once(':') {
            Some((n, rest)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => rest.trim(),
            // An inlined frame printed without an index, under the frame it is inlined into.
            _ if line.starts_with([' ', '\t']) && !trimmed.is_empty() && !frames.is_empty() => trimmed,
            _ => continue,
        };
        let name = match rest.strip_prefix("0x") {
            Some(addr) => addr.trim_start_matches(|c: char| c.is_ascii_hexdigit()).trim_start(),
            None => rest,
        };
        let name = clean_name(name.strip_prefix('-').unwrap_or(name).trim());
        frames.push(StackFrame { in_app: is_in_app(&name), function: name, ..StackFrame::default() });
    }
    frames
}

/// `path:line:col`, `path:line` or `path`.
fn parse_location(location: &str) -> (Option<String>, Option<u32>, Option<u32>) {
    let mut file = location.trim();
    let mut numbers = Vec::new();
    while numbers.len() < 2 {
        match file.rsplit_once(':') {
            Some((head, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                numbers.push(n.parse::<u32>().ok());
                file = head;
            }
            _ => break,
        }
    }
    let (line, column) = match numbers[..] {
        [column, line] => (line, column),
        [line] => (line, None),
        _ => (None, None),
    };
    (Some(file.to_string()), line, column)
}

/// A function name without what changes between builds: legacy `::h<16 hex>` hashes, v0
/// `crate[<hex>]` disambiguators and LLVM `.llvm.<n>` suffixes; and as the alternate form of a
/// demangled name (`{:#}`) writes it: without the types v0 names write after integer constants
/// (`foo::<3usize>`, `[u8; 4usize]` are `foo::<3>`, `[u8; 4]`).
fn clean_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(i) = rest.find('[') {
        let close = rest[i + 1..].find(']').map(|n| i + 1 + n);
        let disambiguator = close.filter(|&c| {
            c > i + 1
                && rest[i + 1..c].bytes().all(|b| b.is_ascii_hexdigit())
                && rest[..i].ends_with(|c: char| c.is_alphanumeric() || c == '_')
        });
        out.push_str(&rest[..disambiguator.map_or(i + 1, |_| i)]);
        rest = &rest[disambiguator.unwrap_or(i) + 1..];
    }
    out.push_str(rest);
    let mut out = without_int_suffixes(out);
    if let Some(i) = out.find(".llvm.") {
        out.truncate(i);
    }
    if let Some(i) = out.rfind("::h") {
        let hash = &out[i + 3..];
        if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.truncate(i);
        }
    }
    out
}

/// The integer types a v0 name writes after a constant (`3usize`, `-1i8`).
const INT_SUFFIXES: &[&str] =
    &["usize", "isize", "u128", "i128", "u64", "i64", "u32", "i32", "u16", "i16", "u8", "i8"];

/// `name` without the integer type after a number that starts a token (`<3usize>` → `<3>`; not in
/// identifiers such as `x86_64` or `h2u8`).
fn without_int_suffixes(name: String) -> String {
    let bytes = name.as_bytes();
    let ident = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || !b.is_ascii();
    let mut out = String::new();
    let (mut i, mut copied) = (0, 0);
    while i < bytes.len() {
        if !(bytes[i].is_ascii_digit() && (i == 0 || !ident(bytes[i - 1]))) {
            i += 1;
            continue;
        }
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        let rest = &name[i..];
        let suffix = INT_SUFFIXES
            .iter()
            .find(|s| rest.starts_with(**s) && !rest.as_bytes().get(s.len()).is_some_and(|&b| ident(b)));
        if let Some(s) = suffix {
            out.push_str(&name[copied..i]);
            i += s.len();
            copied = i;
        }
    }
    if copied == 0 {
        return name;
    }
    out.push_str(&name[copied..]);
    out
}

/// The crate a function belongs to: the first segment of a plain path; for `<T as Trait>::f` and
/// `<T>::f` the crate of the self type `T`, or of the trait when `T` is a primitive, reference,
/// pointer, slice, array, tuple or fn type (whose impls live with the trait, or in `core`).
fn crate_of(function: &str) -> &str {
    let mut s = function.trim();
    for _ in 0..8 {
        let Some(inner) = s.strip_prefix('<') else { break };
        let (ty, tr) = split_qualified(inner);
        let ty = ty.trim();
        if ty.starts_with('<') {
            s = ty;
            continue;
        }
        let builtin = ty.starts_with(['&', '*', '[', '(', '!']) || ty.starts_with("fn(");
        let ty = ty.strip_prefix("dyn ").unwrap_or(ty);
        let krate = ident(ty);
        if builtin || krate.is_empty() || PRIMITIVES.contains(&krate) {
            return tr.map_or("core", |t| ident(t.trim_start_matches("dyn ")));
        }
        return krate;
    }
    ident(s)
}

/// Splits the inside of `<T as Trait>::f` / `<T>::f` (after `<`) into `T` and `Trait…`.
fn split_qualified(inner: &str) -> (&str, Option<&str>) {
    let bytes = inner.as_bytes();
    let mut depth = 0usize;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'<' => depth += 1,
            b'>' if i > 0 && bytes[i - 1] == b'-' => {}
            b'>' if depth == 0 => return (&inner[..i], None),
            b'>' => depth -= 1,
            b' ' if depth == 0 && inner[i..].starts_with(" as ") => {
                return (&inner[..i], Some(&inner[i + 4..]))
            }
            _ => {}
        }
    }
    (inner, None)
}

/// The leading identifier (`std[e282…]::rt` → `std`).
fn ident(s: &str) -> &str {
    let end = s.find(|c: char| !(c.is_alphanumeric() || c == '_')).unwrap_or(s.len());
    &s[..end]
}

/// Whether a function belongs to the application rather than to std, core, alloc, tokio, telemark or a
/// runtime/infra library: its crate (see [`LIBRARY_CRATES`]; for `<T as Trait>::f` the crate of `T`)
/// is not a library, and it is not a runtime symbol ([`RUNTIME_SYMBOLS`]) or empty. Another bare symbol
/// (a `#[no_mangle]` function) counts as the application's, and so do telemark's own unit tests
/// (`telemark_runtime::…::tests::…`).
pub fn is_in_app(function: &str) -> bool {
    let f = function.trim();
    if f.is_empty()
        || RUNTIME_SYMBOLS.contains(&f)
        || RUNTIME_SYMBOL_PREFIXES.iter().any(|p| f.starts_with(p))
    {
        return false;
    }
    let krate = crate_of(f);
    if TELEMARK_CRATES.contains(&krate) {
        return f.contains("::tests::");
    }
    !(LIBRARY_CRATES.contains(&krate) || LIBRARY_CRATE_PREFIXES.iter().any(|p| krate.starts_with(p)))
}

/// A frame of std, core or alloc.
fn is_std(function: &str) -> bool {
    matches!(crate_of(function), "std" | "core" | "alloc")
}

/// Capture and panic machinery at the top of a stack: telemark (but its unit tests), std's backtrace
/// (or the backtrace crate's) and panic code, `rust_begin_unwind`.
fn is_machinery(f: &str) -> bool {
    let krate = crate_of(f);
    (TELEMARK_CRATES.contains(&krate) && !f.contains("::tests::"))
        || krate == "backtrace"
        || (krate == "std"
            && (f.contains("backtrace_rs::")
                || f.contains("backtrace::Backtrace")
                || f.contains("__rust_end_short_backtrace")
                || f.starts_with("std::panicking::")))
        || f.starts_with("core::panicking::")
        || f.ends_with("rust_begin_unwind")
        || f == "rust_panic"
}

/// Where the program or a thread starts.
fn is_start(f: &str) -> bool {
    f.starts_with("std::rt::lang_start")
        || f.contains("__rust_begin_short_backtrace")
        || (crate_of(f) == "std" && (f.contains("::spawn_unchecked") || f.contains("::thread_start")))
        || START_SYMBOLS.contains(&f)
}

thread_local! {
    /// Set while this thread is inside one of telemark's calls into std's `Backtrace`, where it may
    /// hold std's global backtrace lock.
    static IN_STD: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f`, a call into std's `Backtrace` (a capture or a symbolisation), noting meanwhile that this
/// thread may hold std's global backtrace lock, so that a panic raised in there reaches no code that
/// takes the lock again (see [`inside_std`]); such a panic (a bug of std's) gives `None`.
fn in_std<R>(f: impl FnOnce() -> R) -> Option<R> {
    let outer = IN_STD.try_with(|c| c.replace(true)).unwrap_or(false);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).ok();
    let _ = IN_STD.try_with(|c| c.set(outer));
    r
}

/// Whether this thread is inside one of telemark's calls into std's `Backtrace`, so that it may hold
/// std's global backtrace lock, which is not re-entrant: a panic hook running now must neither
/// capture a backtrace nor call std's default hook (which takes the lock to print), or the thread
/// would wait for itself.
pub(crate) fn inside_std() -> bool {
    IN_STD.try_with(Cell::get).unwrap_or(false)
}

/// The calling thread's stack, unresolved (std's `Backtrace::force_capture`: return addresses, no
/// symbols), to be symbolised by [`frames_of`] on telemark's thread. std takes its global backtrace
/// lock for the walk, the same lock its symbolisation holds: a thread capturing while telemark's
/// thread symbolises another backtrace waits for that one to finish.
pub(crate) fn capture() -> Option<Backtrace> {
    in_std(Backtrace::force_capture)
}

/// The short (`{}`) text of a backtrace captured elsewhere (an `anyhow::Error`'s own), symbolised
/// on the calling thread; `None` unless it was captured.
#[cfg_attr(not(feature = "anyhow"), allow(dead_code))]
pub(crate) fn text_of(bt: &Backtrace) -> Option<String> {
    (bt.status() == BacktraceStatus::Captured).then(|| in_std(|| bt.to_string())).flatten()
}

/// Symbolises, on telemark's thread, a backtrace a capturing thread took: std resolves it (under
/// its global backtrace lock) and writes its full form (`{:#}`), which [`parse`] reads back into
/// frames, inlined functions included; then trimmed: the capture machinery off the top (std's
/// `Backtrace::create`/`force_capture` and its stack walk, telemark's own frames — but those of its
/// unit tests —, `std::panicking`, `rust_begin_unwind`, and the std glue between them) and the
/// program or thread start off the bottom, cut at [`MAX_FRAMES`]. A disabled or unsupported
/// backtrace gives no frames.
pub fn frames_of(bt: &Backtrace) -> Vec<StackFrame> {
    if bt.status() != BacktraceStatus::Captured {
        return Vec::new();
    }
    in_std(|| format!("{bt:#}")).map_or_else(Vec::new, |text| trim(parse(&text)))
}

/// Removes the capture machinery from the top — up to its last frame in the run of machinery and
/// glue (std, core, alloc, and `__rust_try` of a `catch_unwind`) that starts the stack — and the
/// program or thread start, with the std frames right above it, from the bottom; cuts at
/// [`MAX_FRAMES`].
fn trim(mut frames: Vec<StackFrame>) -> Vec<StackFrame> {
    let mut top = 0;
    for (i, f) in frames.iter().enumerate() {
        if is_machinery(&f.function) {
            top = i + 1;
        } else if !(is_std(&f.function) || f.function.starts_with("__rust_")) {
            break;
        }
    }
    frames.drain(..top);
    if let Some(start) = frames.iter().position(|f| is_start(&f.function)) {
        frames.truncate(start);
        while frames.last().is_some_and(|f| is_std(&f.function)) {
            frames.pop();
        }
    }
    frames.truncate(MAX_FRAMES);
    frames
}

/// The readable stacktrace text, one frame a line, top first, no trailing newline: application frames
/// as `  app::db::query (src/db.rs:10:5)`, library frames marked `~ ` so a reader can skip them
/// (`~ core::ops::function::FnOnce::call_once (core/src/ops/function.rs:250:5)`). The location is left
/// out when unknown; paths of the Rust standard library (`/rustc/<hash>/library/`) and of crates.io
/// dependencies (`…/registry/src/<index>/`) are shortened to `core/src/…` and `tokio-1.54.1/src/…`.
pub fn render(frames: &[StackFrame]) -> String {
    let mut out = String::new();
    for (i, f) in frames.iter().enumerate() {
        let mark = match (i, f.in_app) {
            (0, true) => "  ",
            (0, false) => "~ ",
            (_, true) => "\n  ",
            (_, false) => "\n~ ",
        };
        let function = if f.function.is_empty() { "<unknown>" } else { &f.function };
        let _ = write!(out, "{mark}{function}");
        if let Some(file) = &f.file {
            let _ = match (f.line, f.column) {
                (Some(l), Some(c)) => write!(out, " ({}:{l}:{c})", short_path(file)),
                (Some(l), None) => write!(out, " ({}:{l})", short_path(file)),
                _ => write!(out, " ({})", short_path(file)),
            };
        }
    }
    out
}

/// `/rustc/<hash>/library/core/…` → `core/…`;
/// `…/registry/src/<index>/tokio-1.54.1/…` → `tokio-1.54.1/…`.
fn short_path(file: &str) -> &str {
    let std_lib = file.find("/library/").filter(|_| file.starts_with("/rustc/")).map(|i| i + 9);
    let registry = file.find("/registry/src/").and_then(|i| file[i + 14..].find('/').map(|j| i + 15 + j));
    // The program's own files, relative to the directory it runs in (usually the project root).
    let own = || {
        let cwd = working_dir()?;
        file.strip_prefix(cwd.as_str())?.strip_prefix('/').map(|rest| file.len() - rest.len())
    };
    std_lib.or(registry).or_else(own).map_or(file, |i| &file[i..])
}

/// The current directory when first asked (with no trailing `/`).
fn working_dir() -> Option<&'static String> {
    static DIR: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    DIR.get_or_init(|| {
        let d = std::env::current_dir().ok()?.display().to_string();
        Some(d.trim_end_matches('/').to_string()).filter(|d| !d.is_empty())
    })
    .as_ref()
}

/// The in-app function names that fingerprint an exception: the in-app frames' functions, top first,
/// at most [`MAX_FINGERPRINT_FUNCTIONS`], without what changes between builds (symbol hashes, crate
/// disambiguators, `.llvm.` suffixes; there are no lines or addresses). Closure markers (`{{closure}}`,
/// `{closure#0}`) are kept as they are.
pub fn fingerprint_functions(frames: &[StackFrame]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.in_app)
        .take(MAX_FINGERPRINT_FUNCTIONS)
        .map(|f| clean_name(&f.function))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    // Real `{:#}` output (rustc 1.95, x86_64 Linux), some frames left out.
    const FULL: &str = "   3:     0x55cde72c5e75 - <std[e28293b1aa0f68bd]::backtrace::Backtrace>::force_capture
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/backtrace.rs:312:9
   4:     0x55cde72a43b7 - btprobe::Foo::method::{{closure}}::h661e518581340744
                               at /tmp/btprobe/src/main.rs:5:48
   7:     0x55cde72a6776 - btprobe::inl::h208da8aea0259abf
                               at /tmp/btprobe/src/main.rs:10:25
   8:     0x55cde72a6776 - btprobe::main::h9092ca9ddf21704b
                               at /tmp/btprobe/src/main.rs:12:14
   9:     0x55cde72a88ab - core::ops::function::FnOnce::call_once::hbb0bb3a36b6ba94e
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/core/src/ops/function.rs:250:5
  10:     0x55cde72a6b3e - std::sys::backtrace::__rust_begin_short_backtrace::h07aa8230a79f108e
                               at /rustc/59807616e1fa2540724bfbac14d7976d7e4a3860/library/std/src/sys/backtrace.rs:166:18
  20:     0x55cde72d1744 - std[e28293b1aa0f68bd]::rt::lang_start_internal
  22:     0x55cde72a6aee - main
  26:                0x0 - <unknown>";
    // Real `{}` output of the same capture.
    const SHORT: &str = "   0: btprobe::Foo::method::{{closure}}
             at ./src/main.rs:5:48
   4: btprobe::main
             at ./src/main.rs:12:14
  18: main";

    fn names(frames: &[StackFrame]) -> Vec<&str> {
        frames.iter().map(|f| f.function.as_str()).collect()
    }

    #[test]
    fn parses_both_forms_and_strips_hashes() {
        let full = parse(FULL);
        assert_eq!(full.len(), 9);
        assert_eq!(full[0].function, "<std::backtrace::Backtrace>::force_capture");
        let f = &full[1];
        assert_eq!(
            (f.function.as_str(), f.file.as_deref()),
            ("btprobe::Foo::method::{{closure}}", Some("/tmp/btprobe/src/main.rs"))
        );
        assert_eq!((f.line, f.column, f.in_app), (Some(5), Some(48), true));
        assert_eq!(
            (full[6].function.as_str(), full[6].file.as_deref()),
            ("std::rt::lang_start_internal", None)
        );
        assert!(!full[8].in_app && full[8].function == "<unknown>");
        let short = parse(SHORT);
        assert_eq!(names(&short), ["btprobe::Foo::method::{{closure}}", "btprobe::main", "main"]);
        assert_eq!((short[1].file.as_deref(), short[1].line), (Some("./src/main.rs"), Some(12)));
        assert_eq!(
            names(&trim(full)),
            ["btprobe::Foo::method::{{closure}}", "btprobe::inl", "btprobe::main"]
        );
        assert_eq!(clean_name("app::f.llvm.1234::h0123456789abcdef"), "app::f");
        assert_eq!(clean_name("<[u8; 4]>::len"), "<[u8; 4]>::len");
        // v0's plain form (`{}`, as `{:#}` of a std `Backtrace` writes names) is read as the
        // alternate one.
        assert_eq!(
            clean_name("<[u8; 4usize] as app[1f2e]::Buf<-1i8>>::f::<3usize, x86_64, h2u8, 'a', true>"),
            "<[u8; 4] as app::Buf<-1>>::f::<3, x86_64, h2u8, 'a', true>"
        );
        assert_eq!(parse_location("C:\\a.rs:7"), (Some("C:\\a.rs".into()), Some(7), None));
    }

    #[test]
    fn trims_panic_machinery() {
        let text = "   4:     0x1 - telemark_runtime::panic::hook::{{closure}}::h661e518581340744
   5:     0x2 - <alloc[fd]::boxed::Box<dyn core[c1]::ops::function::Fn<()>> as core[c1]::ops::function::Fn<()>>::call
   8:     0x3 - std[e2]::sys::backtrace::__rust_end_short_backtrace::<std[e2]::panicking::panic_handler::{closure#0}, !>
   9:     0x4 - __rustc[b7]::rust_begin_unwind
  10:     0x5 - core[c1]::panicking::panic_fmt
  14:     0x6 - app::main::{{closure}}::h87c02def67cc6ed9";
        assert_eq!(names(&trim(parse(text))), ["app::main::{{closure}}"]);
    }

    #[test]
    fn classifies_in_app() {
        let app = "app::db::query|app::main::{{closure}}|<app::Foo as core::future::Future>::poll|\
            <app::Foo>::new|<dyn app::Handler>::call|<&str as app::Parse>::parse|my_callback|\
            telemark_runtime::x::tests::helper";
        let library = "std::rt::lang_start|core::panicking::panic_fmt|alloc::vec::Vec<T>::push|\
            test::run_test|<core::pin::Pin<P> as core::future::Future>::poll|\
            <&app::Foo as core::fmt::Debug>::fmt|<str>::len|\
            <alloc::boxed::Box<F,A> as core::ops::function::FnOnce<Args>>::call_once|\
            <&dyn core::ops::Fn<()> + core::marker::Sync as core::ops::FnOnce<()>>::call_once|\
            std[e28293b1aa0f68bd]::rt::lang_start_internal|tokio::runtime::park::CachedParkThread::block_on|\
            futures_util::future::Map::poll|hyper::proto::h1::dispatch|tracing_core::dispatcher::get_default|\
            opentelemetry_sdk::trace::Span::end|crossbeam_epoch::pin|telemark::init|\
            telemark_runtime::exception::record|\
            <telemark_runtime::span::Guard as core::ops::drop::Drop>::drop|\
            anyhow::error::<impl anyhow::Error>::msg|rayon_core::registry::main_loop|rust_begin_unwind|\
            __rustc::rust_begin_unwind|rust_panic|__rust_try|_start|__libc_start_main|__libc_start_call_main|\
            start_thread|clone|clone3|__GI___clone3|<unknown>||  ";
        assert!(app.split('|').all(is_in_app), "{app}");
        for f in library.split('|') {
            assert!(!is_in_app(f), "{f}");
        }
    }

    // `black_box` keeps the capture from being a tail call, which would leave the helper off the stack.
    #[inline(never)]
    fn deep_helper_for_backtrace(first: bool) -> Backtrace {
        if first {
            return std::hint::black_box(capture().unwrap());
        }
        std::hint::black_box(capture().unwrap())
    }

    #[inline(never)]
    fn other_helper_for_backtrace() -> Backtrace {
        std::hint::black_box(deep_helper_for_backtrace(true))
    }

    #[test]
    fn real_capture_is_resolved_and_trimmed() {
        // Taken here, symbolised on another thread, as telemark does.
        let bt = deep_helper_for_backtrace(true);
        let frames = std::thread::spawn(move || frames_of(&bt)).join().unwrap();
        let (top, text) = (&frames[0], render(&frames));
        assert!(top.function.ends_with("::tests::deep_helper_for_backtrace") && top.in_app, "{text}");
        if cfg!(debug_assertions) {
            assert!(top.file.as_deref().unwrap().ends_with("backtrace.rs") && top.line.is_some(), "{text}");
        }
        assert!(frames.iter().all(|f| !is_start(&f.function) && !f.function.contains("::h")), "{text}");
        assert!(frames.last().unwrap().in_app, "{text}");
        // std's `Backtrace::create`/`force_capture`, its walk and telemark's `capture` are gone.
        let capture_frame = |f: &StackFrame| {
            f.function.contains("Backtrace>::")
                || f.function.contains("backtrace_rs::")
                || (f.function.starts_with("telemark_runtime::") && !f.function.contains("::tests::"))
        };
        assert!(!frames.iter().any(capture_frame), "the capture is trimmed: {text}");
        assert!(frames_of(&Backtrace::disabled()).is_empty());
        let a = fingerprint_functions(&frames);
        let b = fingerprint_functions(&frames_of(&deep_helper_for_backtrace(false)));
        let c = fingerprint_functions(&frames_of(&other_helper_for_backtrace()));
        assert!(a[0].ends_with("::tests::deep_helper_for_backtrace") && a.len() >= 2, "{a:?}");
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn calls_into_std_are_marked_and_their_panics_contained() {
        assert!(!inside_std());
        assert_eq!(in_std(|| (inside_std(), in_std(inside_std))), Some((true, Some(true))));
        assert!(!inside_std());
        // What a panic inside std's backtrace code would do (telemark's hook then neither captures
        // nor calls the previous hook): the caller gets `None` and the mark is cleared.
        assert_eq!(in_std(|| -> u8 { panic!("raised inside std's backtrace code") }), None);
        assert!(!inside_std());
    }

    #[test]
    fn renders_app_frames_plain_and_library_frames_marked() {
        let frames = parse(FULL);
        let text = "  btprobe::main (/tmp/btprobe/src/main.rs:12:14)\n\
                    ~ core::ops::function::FnOnce::call_once (core/src/ops/function.rs:250:5)\n\
                    ~ std::sys::backtrace::__rust_begin_short_backtrace (std/src/sys/backtrace.rs:166:18)\n\
                    ~ std::rt::lang_start_internal";
        assert_eq!(render(&frames[3..7]), text);
        assert_eq!(render(&[]), "");
        let fp = ["btprobe::Foo::method::{{closure}}", "btprobe::inl", "btprobe::main"];
        assert_eq!(fingerprint_functions(&frames), fp);
        let cargo = "/h/.cargo/registry/src/index.crates.io-1949/tokio-1.54.1/src/lib.rs";
        assert_eq!(short_path(cargo), "tokio-1.54.1/src/lib.rs");
    }

    #[test]
    fn garbage_never_panics() {
        let odd =
            "|:|0:|  at|at :::|   1: 0x|   1: 0xzz - |disabled backtrace|   1: <a as|   1: <<<<<< as >>>>|\
                   2: [ab]|  2: x[ff|  2: x[]::h12| 3: é[é]::hé|\n\n  at x:99999999999:1";
        let mut texts: Vec<String> = odd.split('|').map(String::from).collect();
        texts.push(format!("   0: {}x{}\n    at {}", "<".repeat(5000), ">".repeat(5000), ":1".repeat(100)));
        let alphabet: Vec<char> = "0123456789abcdefx:<> []{}#&*-._\n é as at".chars().collect();
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..500 {
            let mut text = String::new();
            for _ in 0..64 {
                seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
                text.push(alphabet[(seed >> 33) as usize % alphabet.len()]);
            }
            texts.extend([format!("   1: {text}"), text]);
        }
        assert!(parse("disabled backtrace").is_empty());
        for t in &texts {
            let frames = trim(parse(t));
            let _ = (render(&frames), fingerprint_functions(&frames), is_in_app(t), crate_of(t));
        }
    }
}
