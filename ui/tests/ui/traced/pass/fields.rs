#![deny(warnings)]

use telemark::traced;

struct User {
    id: u64,
    name: String,
}

#[traced(fields(user.id = user.id, user.name = user.name.as_str(), "http.route" = "/users/{id}"))]
fn load(user: &User) -> u64 {
    user.id
}

#[traced(skip(body), fields(body = body.len(), body.preview = &body[..body.len().min(3)]))]
fn upload(body: &str) -> usize {
    body.len()
}

#[traced(skip_all, fields(count = items.len(), first = items.first().copied()))]
fn batch(items: Vec<i32>) -> usize {
    items.len()
}

#[traced(fields(r#type = "admin", r#loop.r#for = 1))]
fn raw_keys() {}

const SERVICE: &str = "billing";

#[traced(fields(service = SERVICE, computed = { let x = 2; x * 21 }))]
fn consts() {}

fn main() {
    let user = User { id: 7, name: "ann".into() };
    assert_eq!(load(&user), 7);
    assert_eq!(upload("hello"), 5);
    assert_eq!(batch(vec![1, 2]), 2);
    raw_keys();
    consts();
}
