//! Any text, as any kind of expression: the parser (and the Query key-condition planner)
//! answers with a tree or an error, never a panic, a hang or a stack overflow.
#![no_main]

use dynarock::expr::key_condition::{plan, terms_of_expression};
use dynarock::expr::{ExpressionKind, Parser, Placeholders};
use dynarock::model::schema::{KeyAttribute, KeySchema};
use dynarock::model::{AttributeValue, ScalarType};
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
    let schema = KeySchema {
        hash: KeyAttribute {
            name: "a".into(),
            ty: ScalarType::S,
        },
        range: Some(KeyAttribute {
            name: "b".into(),
            ty: ScalarType::S,
        }),
    };
    for kind in [
        ExpressionKind::Condition,
        ExpressionKind::KeyCondition,
        ExpressionKind::Projection,
        ExpressionKind::Update,
    ] {
        let mut p = placeholders();
        if let Ok(parser) = Parser::new(src, kind, &mut p) {
            let _ = match kind {
                ExpressionKind::Projection => parser.projection().map(|_| ()),
                ExpressionKind::Update => parser.update().map(|_| ()),
                ExpressionKind::KeyCondition => parser
                    .condition()
                    .and_then(|c| terms_of_expression(&c))
                    .and_then(|terms| plan(terms, &schema))
                    .map(|_| ()),
                _ => parser.condition().map(|_| ()),
            };
        }
    }
});
