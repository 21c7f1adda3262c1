#![deny(warnings)]

use telemark::traced;

// The macro's own variables cannot clash with the user's, even when the names are the same.
#[traced(ret)]
fn same_names(__telemark_rec: u32, __telemark_outcome: u32) -> Result<u32, String> {
    let __telemark_span = __telemark_rec + __telemark_outcome;
    let __telemark_out = __telemark_span * 2;
    let __telemark_fake = __telemark_out;
    Ok(__telemark_fake)
}

#[traced]
async fn same_names_async(__telemark_finish: u32) -> u32 {
    let __telemark_out = __telemark_finish;
    __telemark_out
}

#[traced]
fn same_static() -> u32 {
    static __TELEMARK_CALLSITE: u32 = 4;
    __TELEMARK_CALLSITE
}

// Modules and types named like the paths the generated code uses do not capture them: it names
// everything by absolute path (`::core::…`, `::telemark::__private::…`).
mod shadowing {
    #[allow(dead_code)]
    mod core {}
    #[allow(dead_code)]
    mod telemark {}
    #[allow(dead_code)]
    struct Option;
    #[allow(dead_code)]
    struct Box;

    #[::telemark::traced(ret)]
    pub fn shadowed_names(x: u8) -> ::core::result::Result<u8, ()> {
        ::core::result::Result::Ok(x)
    }
}

fn main() {
    assert_eq!(same_names(1, 2), Ok(6));
    drop(same_names_async(1));
    assert_eq!(same_static(), 4);
    assert_eq!(shadowing::shadowed_names(3), Ok(3));
}
