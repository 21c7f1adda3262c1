#![deny(warnings)]

use telemark::traced;

#[derive(Debug, Default)]
struct Counter {
    count: u64,
    names: Vec<String>,
}

impl Counter {
    #[traced]
    fn new() -> Self {
        Counter::default()
    }

    #[traced(fields(counter.count = self.count, counter.names = self.names.len()))]
    fn get(&self) -> u64 {
        self.count
    }

    #[traced(ret)]
    fn bump(&mut self, by: u64) -> u64 {
        self.count += by;
        self.count
    }

    // Returns a borrow of `self`, through the path that records the return value.
    #[traced(ret)]
    fn last_name(&mut self, name: &str) -> &str {
        self.names.push(name.to_string());
        self.names.last().map(String::as_str).unwrap_or_default()
    }

    #[traced]
    fn first(&self) -> Option<&String> {
        self.names.first()
    }

    #[traced]
    fn into_count(self) -> u64 {
        self.count
    }

    #[traced]
    fn boxed(self: Box<Self>) -> u64 {
        self.count
    }
}

fn main() {
    let mut c = Counter::new();
    assert_eq!(c.bump(2), 2);
    assert_eq!(c.get(), 2);
    assert_eq!(c.last_name("ann"), "ann");
    assert_eq!(c.first().map(String::as_str), Some("ann"));
    assert_eq!(Box::new(Counter::new()).boxed(), 0);
    assert_eq!(c.into_count(), 2);
}
