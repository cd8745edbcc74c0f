//! ProjectionExpression: picking document paths out of an item. The paths form a tree; two
//! paths where one contains the other overlap, and a position used both as a map and as a list
//! conflicts: DynamoDB rejects both.

use std::collections::BTreeMap;

use super::ast::{Path, PathStep};
use crate::error::{Error, Result};
use crate::model::{AttributeValue, Item};

#[derive(Default, Debug)]
struct Node {
    /// Where a requested path ends: take the whole value.
    leaf: bool,
    attributes: BTreeMap<String, Node>,
    indexes: BTreeMap<usize, Node>,
}

/// The validated set of projected paths.
#[derive(Debug)]
pub struct Projection {
    root: BTreeMap<String, Node>,
}

/// `[a, b, [3]]`: how DynamoDB prints a path in overlap and conflict errors.
fn show(path: &Path) -> String {
    let steps: Vec<String> = path.steps.iter().map(ToString::to_string).collect();
    format!("[{}]", steps.join(", "))
}

impl Projection {
    pub fn new(paths: &[Path], member: &str) -> Result<Projection> {
        let mut root: BTreeMap<String, Node> = BTreeMap::new();
        for (i, path) in paths.iter().enumerate() {
            let clash = |kind: &str, other: &Path| {
                Error::validation(format!(
                    "Invalid {member}: Two document paths {kind} with each other; must remove or rewrite one of these paths; path one: {}, path two: {}",
                    show(other),
                    show(path)
                ))
            };
            // The earlier path this one runs into, for the error message.
            let earlier = |pred: &dyn Fn(&Path) -> bool| {
                paths[..i]
                    .iter()
                    .find(|p| pred(p))
                    .cloned()
                    .unwrap_or_else(|| path.clone())
            };
            let is_prefix = |a: &Path, b: &Path| {
                a.steps.len() <= b.steps.len() && a.steps == b.steps[..a.steps.len()]
            };
            let (first, rest) = match path.steps.split_first() {
                Some((PathStep::Attribute(name), rest)) => (name, rest),
                _ => continue,
            };
            let mut node = root.entry(first.clone()).or_default();
            for step in rest {
                if node.leaf {
                    return Err(clash("overlap", &earlier(&|p| is_prefix(p, path))));
                }
                node = match step {
                    PathStep::Attribute(a) => {
                        if !node.indexes.is_empty() {
                            return Err(clash("conflict", &earlier(&|p| p.steps.len() > 1)));
                        }
                        node.attributes.entry(a.clone()).or_default()
                    }
                    PathStep::Index(ix) => {
                        if !node.attributes.is_empty() {
                            return Err(clash("conflict", &earlier(&|p| p.steps.len() > 1)));
                        }
                        node.indexes.entry(*ix).or_default()
                    }
                };
            }
            if node.leaf || !node.attributes.is_empty() || !node.indexes.is_empty() {
                return Err(clash(
                    "overlap",
                    &earlier(&|p| is_prefix(path, p) || is_prefix(p, path)),
                ));
            }
            node.leaf = true;
        }
        Ok(Projection { root })
    }

    /// The item with only the projected parts.
    pub fn apply(&self, item: &Item) -> Item {
        self.root
            .iter()
            .filter_map(|(name, node)| {
                let v = project_value(item.get(name)?, node)?;
                Some((name.clone(), v))
            })
            .collect()
    }
}

fn project_value(value: &AttributeValue, node: &Node) -> Option<AttributeValue> {
    if node.leaf {
        return Some(value.clone());
    }
    match value {
        AttributeValue::M(m) if !node.attributes.is_empty() => {
            let picked: Item = node
                .attributes
                .iter()
                .filter_map(|(k, n)| Some((k.clone(), project_value(m.get(k)?, n)?)))
                .collect();
            (!picked.is_empty()).then_some(AttributeValue::M(picked))
        }
        AttributeValue::L(l) if !node.indexes.is_empty() => {
            let picked: Vec<AttributeValue> = node
                .indexes
                .iter()
                .filter_map(|(i, n)| project_value(l.get(*i)?, n))
                .collect();
            (!picked.is_empty()).then_some(AttributeValue::L(picked))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{ExpressionKind, Parser, Placeholders};
    use crate::model::item_from_json;
    use serde_json::json;

    fn projection(src: &str) -> Result<Projection> {
        let mut p = Placeholders::default();
        let paths = Parser::new(src, ExpressionKind::Projection, &mut p)?.projection()?;
        Projection::new(&paths, "ProjectionExpression")
    }

    fn apply(src: &str) -> serde_json::Value {
        let item = item_from_json(&json!({
            "a": {"S": "x"}, "b": {"N": "1"},
            "m": {"M": {"k": {"S": "v"}, "j": {"S": "w"}, "l": {"L": [{"N": "0"}, {"N": "1"}, {"N": "2"}]}}},
            "l": {"L": [{"M": {"x": {"N": "1"}, "y": {"N": "2"}}}, {"S": "one"}, {"S": "two"}]}
        }))
        .unwrap();
        serde_json::to_value(projection(src).unwrap().apply(&item)).unwrap()
    }

    #[test]
    fn picks_top_level_and_nested_parts() {
        assert_eq!(apply("a, nope"), json!({"a": {"S": "x"}}));
        assert_eq!(apply("m.k"), json!({"m": {"M": {"k": {"S": "v"}}}}));
        assert_eq!(
            apply("m.l[2], m.l[0]"),
            json!({"m": {"M": {"l": {"L": [{"N": "0"}, {"N": "2"}]}}}})
        );
        assert_eq!(
            apply("l[0].y, l[2]"),
            json!({"l": {"L": [{"M": {"y": {"N": "2"}}}, {"S": "two"}]}})
        );
        assert_eq!(apply("l[9], a.b, m.nope"), json!({}));
    }

    #[test]
    fn overlapping_and_conflicting_paths_are_rejected() {
        assert_eq!(
            projection("a, a.b").unwrap_err().to_string(),
            "Invalid ProjectionExpression: Two document paths overlap with each other; must remove or rewrite one of these paths; path one: [a], path two: [a, b]"
        );
        assert!(projection("a.b, a")
            .unwrap_err()
            .to_string()
            .contains("overlap"));
        assert!(projection("a, a")
            .unwrap_err()
            .to_string()
            .contains("overlap"));
        assert_eq!(
            projection("a.b, a[0]").unwrap_err().to_string(),
            "Invalid ProjectionExpression: Two document paths conflict with each other; must remove or rewrite one of these paths; path one: [a, b], path two: [a, [0]]"
        );
    }
}
