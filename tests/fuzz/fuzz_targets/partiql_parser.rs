//! Any text as a PartiQL statement: a statement or an error, never a panic, a hang or a stack
//! overflow.
#![no_main]

use dynarock::model::AttributeValue;
use dynarock::partiql::parser::parse;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    let parameters = [AttributeValue::S("x".into()), AttributeValue::Bool(true)];
    let _ = parse(src, &parameters);
});
