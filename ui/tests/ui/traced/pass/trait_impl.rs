#![deny(warnings)]

use telemark::traced;

trait Store {
    fn get(&self, key: &str) -> Option<String>;
    fn put(&mut self, key: &str, value: String) -> Result<(), String>;

    // A default method with a body can be traced too.
    #[traced]
    fn has(&self, key: &str) -> bool {
        self.get(key).is_some()
    }
}

#[derive(Default)]
struct Memory(Vec<(String, String)>);

impl Store for Memory {
    #[traced]
    fn get(&self, key: &str) -> Option<String> {
        self.0.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    }

    #[traced(kind = "client")]
    fn put(&mut self, key: &str, value: String) -> Result<(), String> {
        if key.is_empty() {
            return Err("empty key".to_string());
        }
        self.0.push((key.to_string(), value));
        Ok(())
    }
}

impl std::fmt::Display for Memory {
    #[traced(level = "trace")]
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} entries", self.0.len())
    }
}

// Native `async fn` in a trait.
trait Fetch {
    async fn fetch(&self, id: u32) -> u32;
}

impl Fetch for Memory {
    #[traced]
    async fn fetch(&self, id: u32) -> u32 {
        id + self.0.len() as u32
    }
}

fn main() {
    let mut m = Memory::default();
    assert!(m.put("", "x".into()).is_err());
    m.put("a", "1".into()).unwrap();
    assert_eq!(m.get("a").as_deref(), Some("1"));
    assert!(m.has("a"));
    assert_eq!(m.to_string(), "1 entries");
    let fut = m.fetch(1);
    drop(fut);
}
