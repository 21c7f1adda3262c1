// `self` is never recorded (`tracing::instrument` needs `skip(self)`, telemark does not).
use telemark::traced;

struct Db;

impl Db {
    #[traced(skip(self))]
    fn query(&self, sql: &str) -> usize {
        sql.len()
    }
}

fn main() {
    Db.query("select 1");
}
