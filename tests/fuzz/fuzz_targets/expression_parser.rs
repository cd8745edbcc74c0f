//! Any text, as any kind of expression: the parser answers with a tree or an error, never a
//! panic, a hang or a stack overflow.
#![no_main]

use dynarock::expr::{ExpressionKind, Parser, Placeholders};
use dynarock::model::AttributeValue;
use libfuzzer_sys::fuzz_target;

fn placeholders() -> Placeholders {
    let mut p = Placeholders::default();
    p.names.insert("#a".into(), "a".into());
    p.values.insert(":v".into(), AttributeValue::S("x".into()));
    p.values.insert(":l".into(), AttributeValue::L(vec![]));
    p
}

fuzz_target!(|data: &[u8]| {
    let Ok(src) = std::str::from_utf8(data) else {
        return;
    };
    for kind in [
        ExpressionKind::Condition,
        ExpressionKind::Projection,
        ExpressionKind::Update,
    ] {
        let mut p = placeholders();
        if let Ok(parser) = Parser::new(src, kind, &mut p) {
            let _ = match kind {
                ExpressionKind::Projection => parser.projection().map(|_| ()),
                ExpressionKind::Update => parser.update().map(|_| ()),
                _ => parser.condition().map(|_| ()),
            };
        }
    }
});
