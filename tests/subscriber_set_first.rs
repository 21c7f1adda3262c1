//! A program that sets its own global `tracing` subscriber before `telemark::init`: `init` says
//! so, and what to do, instead of silently losing the program's logs. Its own binary: the global
//! subscriber is process-wide.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use telemark::Config;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

#[test]
fn init_refuses_a_foreign_global_subscriber_and_says_what_to_do() {
    // What a program that already logs does.
    tracing_subscriber::registry().with(tracing_subscriber::fmt::layer().with_test_writer()).init();

    let err = match telemark::init(Config::default().service_name("first").console(false)) {
        Ok(_) => panic!("init started beside a foreign global subscriber, silently"),
        Err(e) => e,
    };
    assert!(matches!(err, telemark::Error::SubscriberAlreadySet), "{err}");
    let msg = err.to_string();
    assert!(msg.contains("already set"), "{msg}");
    assert!(msg.contains("logging.install_subscriber: false"), "{msg}");
    assert!(msg.contains("telemark::tracing_layer()"), "{msg}");
    assert!(msg.contains("remove that `.init()`"), "{msg}");

    // The way out the message gives: telemark without its own subscriber starts.
    let guard =
        telemark::init(Config::default().service_name("first").console(false).install_subscriber(false))
            .expect("init without installing a subscriber");
    drop(guard);
}
