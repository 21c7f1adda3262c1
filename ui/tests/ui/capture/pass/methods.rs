#![deny(warnings)]

use telemark::capture_exceptions;

#[derive(Debug, Default)]
struct Counter {
    count: u64,
    names: Vec<String>,
}

impl Counter {
    #[capture_exceptions]
    fn new() -> Self {
        Counter::default()
    }

    #[capture_exceptions]
    fn try_new(start: u64) -> Result<Self, String> {
        if start > 100 {
            return Err(format!("{start} is too large"));
        }
        Ok(Counter { count: start, names: Vec::new() })
    }

    #[capture_exceptions]
    fn get(&self) -> Result<u64, String> {
        if self.count == 0 {
            return Err("empty".into());
        }
        Ok(self.count)
    }

    #[capture_exceptions]
    fn bump(&mut self, by: u64) -> Result<u64, String> {
        self.count = self.count.checked_add(by).ok_or("overflow")?;
        Ok(self.count)
    }

    // Returns a borrow of `self` through the closure that sees the `Err`.
    #[capture_exceptions]
    fn add_name(&mut self, name: &str) -> Result<&str, String> {
        if name.is_empty() {
            return Err("no name".into());
        }
        self.names.push(name.to_string());
        Ok(self.names.last().map(String::as_str).unwrap_or_default())
    }

    // A mutable borrow of `self` out of the closure.
    #[capture_exceptions]
    fn count_mut(&mut self) -> Result<&mut u64, String> {
        if self.count > 1000 {
            return Err("too many".into());
        }
        Ok(&mut self.count)
    }

    #[capture_exceptions]
    fn into_count(self) -> Result<u64, String> {
        Ok(self.count)
    }

    #[capture_exceptions]
    fn boxed(self: Box<Self>) -> Result<u64, String> {
        Ok(self.count)
    }
}

trait Store {
    fn load(&self, key: &str) -> Result<String, String>;

    // A default method of a trait.
    #[capture_exceptions]
    fn load_or(&self, key: &str, default: &str) -> Result<String, String> {
        match self.load(key) {
            Ok(v) => Ok(v),
            Err(_) if !default.is_empty() => Ok(default.to_string()),
            Err(e) => Err(e),
        }
    }
}

impl Store for Counter {
    #[capture_exceptions]
    fn load(&self, key: &str) -> Result<String, String> {
        self.names.iter().find(|n| *n == key).cloned().ok_or_else(|| format!("no {key}"))
    }
}

fn main() {
    let mut c = Counter::new();
    assert!(c.get().is_err());
    assert_eq!(c.bump(2), Ok(2));
    assert_eq!(c.bump(u64::MAX), Err("overflow".to_string()));
    assert_eq!(c.get(), Ok(2));
    *c.count_mut().unwrap() += 1;
    assert_eq!(c.get(), Ok(3));
    c.count -= 1;
    assert_eq!(c.add_name("ann"), Ok("ann"));
    assert!(c.add_name("").is_err());
    assert_eq!(c.load("ann"), Ok("ann".to_string()));
    assert_eq!(c.load_or("bob", "none"), Ok("none".to_string()));
    assert!(c.load_or("bob", "").is_err());
    assert!(Counter::try_new(101).is_err());
    assert_eq!(Box::new(Counter::try_new(5).unwrap()).boxed(), Ok(5));
    assert_eq!(c.into_count(), Ok(2));
}
