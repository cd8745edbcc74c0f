//! Applying an UpdateExpression to an item, all or nothing: every right-hand side is read from
//! the item as it was before the update, and the first error leaves the item untouched.

use super::ast::{Operand, Path, PathStep, SetValue, UpdateAction};
use super::eval::resolve;
use super::project::Projection;
use crate::error::{Error, Result};
use crate::model::schema::KeySchema;
use crate::model::{AttributeValue, Item};

const MEMBER: &str = "UpdateExpression";

fn incorrect_type() -> Error {
    Error::validation("An operand in the update expression has an incorrect data type")
}

fn invalid_path() -> Error {
    Error::validation("The document path provided in the update expression is invalid for update")
}

fn top_name(path: &Path) -> &str {
    match path.steps.first() {
        Some(PathStep::Attribute(a)) => a,
        _ => "",
    }
}

/// Checks made before touching the item: no key attribute is updated, no two paths overlap or
/// conflict, ADD and DELETE get operands of a type they accept.
pub fn validate(actions: &[UpdateAction], key: &KeySchema) -> Result<()> {
    for action in actions {
        let name = top_name(action.path());
        if key.is_key_attribute(name) {
            return Err(Error::validation(format!(
                "One or more parameter values were invalid: Cannot update attribute {name}. This attribute is part of the key"
            )));
        }
        let (operator, value) = match action {
            UpdateAction::Add(_, v) => ("ADD", v),
            UpdateAction::Delete(_, v) => ("DELETE", v),
            _ => continue,
        };
        let accepted = matches!(
            (operator, value),
            ("ADD", AttributeValue::N(_))
                | (
                    _,
                    AttributeValue::SS(_) | AttributeValue::NS(_) | AttributeValue::BS(_)
                )
        );
        if !accepted {
            return Err(Error::validation(format!(
                "Invalid {MEMBER}: Incorrect operand type for operator or function; operator: {operator}, operand type: {}, typeSet: ALLOWED_FOR_{operator}_OPERAND",
                value.type_word()
            )));
        }
    }
    let paths: Vec<Path> = actions.iter().map(|a| a.path().clone()).collect();
    Projection::new(&paths, MEMBER).map(|_| ())
}

/// The paths an update touches, as a projection: what `UPDATED_OLD`/`UPDATED_NEW` return of
/// the item before or after it (nested paths within their enclosing maps and lists).
pub fn touched(actions: &[UpdateAction]) -> Result<Projection> {
    let paths: Vec<Path> = actions.iter().map(|a| a.path().clone()).collect();
    Projection::new(&paths, MEMBER)
}

/// The item after validated actions: right-hand sides read `original`, changes go to a copy.
pub fn apply(original: &Item, actions: &[UpdateAction]) -> Result<Item> {
    let mut updated = original.clone();
    let item = &mut updated;
    // Right-hand sides first, against the original item.
    let mut values = Vec::with_capacity(actions.len());
    for action in actions {
        values.push(match action {
            UpdateAction::Set(_, v) => Some(evaluate(v, original)?),
            _ => None,
        });
    }
    // List elements removed by index go last-first, so earlier indexes stay valid.
    let mut order: Vec<usize> = (0..actions.len()).collect();
    order.sort_by_key(|&i| match &actions[i] {
        UpdateAction::Remove(p) => match p.steps.last() {
            Some(PathStep::Index(ix)) => (1, usize::MAX - ix),
            _ => (1, 0),
        },
        _ => (0, 0),
    });
    for i in order {
        match (&actions[i], values[i].take()) {
            (UpdateAction::Set(path, _), Some(v)) => set(item, path, v)?,
            (UpdateAction::Remove(path), _) => remove(item, path)?,
            (UpdateAction::Add(path, v), _) => {
                let new = match resolve(item, path) {
                    None => v.clone(),
                    Some(current) => add(current, v)?,
                };
                set(item, path, new)?;
            }
            (UpdateAction::Delete(path, v), _) => {
                if let Some(current) = resolve(item, path) {
                    match delete(current, v)? {
                        Some(rest) => set(item, path, rest)?,
                        None => remove(item, path)?,
                    }
                }
            }
            _ => {}
        }
    }
    Ok(updated)
}

fn evaluate(v: &SetValue, item: &Item) -> Result<AttributeValue> {
    Ok(match v {
        SetValue::Operand(Operand::Value(v)) => v.clone(),
        SetValue::Operand(Operand::Path(p)) => resolve(item, p).cloned().ok_or_else(|| {
            Error::validation(
                "The provided expression refers to an attribute that does not exist in the item",
            )
        })?,
        SetValue::Operand(Operand::Size(_)) => return Err(incorrect_type()),
        SetValue::IfNotExists(p, fallback) => match resolve(item, p) {
            Some(v) => v.clone(),
            None => evaluate(fallback, item)?,
        },
        SetValue::ListAppend(a, b) => match (evaluate(a, item)?, evaluate(b, item)?) {
            (AttributeValue::L(mut a), AttributeValue::L(b)) => {
                a.extend(b);
                AttributeValue::L(a)
            }
            _ => return Err(incorrect_type()),
        },
        SetValue::Plus(a, b) | SetValue::Minus(a, b) => {
            match (evaluate(a, item)?, evaluate(b, item)?) {
                (AttributeValue::N(x), AttributeValue::N(y)) => {
                    let r = if matches!(v, SetValue::Plus(..)) {
                        x.checked_add(y)
                    } else {
                        x.checked_sub(y)
                    };
                    AttributeValue::N(r.map_err(|e| Error::validation(e.message("")))?)
                }
                _ => return Err(incorrect_type()),
            }
        }
    })
}

fn add(current: &AttributeValue, v: &AttributeValue) -> Result<AttributeValue> {
    use AttributeValue as V;
    Ok(match (current, v) {
        (V::N(a), V::N(b)) => V::N(
            a.checked_add(*b)
                .map_err(|e| Error::validation(e.message("")))?,
        ),
        (V::SS(a), V::SS(b)) => V::SS(union(a, b)),
        (V::NS(a), V::NS(b)) => V::NS(union(a, b)),
        (V::BS(a), V::BS(b)) => V::BS(union(a, b)),
        _ => return Err(incorrect_type()),
    })
}

fn union<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
    let mut out = a.to_vec();
    out.extend(b.iter().filter(|x| !a.contains(x)).cloned());
    out
}

/// The set without `v`'s members, or `None` when nothing is left.
fn delete(current: &AttributeValue, v: &AttributeValue) -> Result<Option<AttributeValue>> {
    use AttributeValue as V;
    fn minus<T: Clone + PartialEq>(a: &[T], b: &[T]) -> Vec<T> {
        a.iter().filter(|x| !b.contains(x)).cloned().collect()
    }
    let rest = match (current, v) {
        (V::SS(a), V::SS(b)) => V::SS(minus(a, b)),
        (V::NS(a), V::NS(b)) => V::NS(minus(a, b)),
        (V::BS(a), V::BS(b)) => V::BS(minus(a, b)),
        _ => return Err(incorrect_type()),
    };
    let empty = matches!(&rest, V::SS(s) if s.is_empty())
        || matches!(&rest, V::NS(s) if s.is_empty())
        || matches!(&rest, V::BS(s) if s.is_empty());
    Ok((!empty).then_some(rest))
}

/// The container holding the last step of `path`, which must exist.
fn parent<'a>(item: &'a mut Item, path: &Path) -> Result<Option<&'a mut AttributeValue>> {
    let steps = &path.steps[..path.steps.len() - 1];
    let Some((PathStep::Attribute(first), rest)) = steps.split_first() else {
        return Ok(None);
    };
    let mut current = item.get_mut(first).ok_or_else(invalid_path)?;
    for step in rest {
        current = match (step, current) {
            (PathStep::Attribute(a), AttributeValue::M(m)) => m.get_mut(a),
            (PathStep::Index(i), AttributeValue::L(l)) => l.get_mut(*i),
            _ => None,
        }
        .ok_or_else(invalid_path)?;
    }
    Ok(Some(current))
}

fn set(item: &mut Item, path: &Path, value: AttributeValue) -> Result<()> {
    let last = path.steps.last().ok_or_else(invalid_path)?;
    match (parent(item, path)?, last) {
        (None, PathStep::Attribute(name)) => {
            item.insert(name.clone(), value);
        }
        (Some(AttributeValue::M(m)), PathStep::Attribute(name)) => {
            m.insert(name.clone(), value);
        }
        (Some(AttributeValue::L(l)), PathStep::Index(i)) => {
            // Past the end appends, as DynamoDB does.
            match l.get_mut(*i) {
                Some(slot) => *slot = value,
                None => l.push(value),
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

fn remove(item: &mut Item, path: &Path) -> Result<()> {
    let last = path.steps.last().ok_or_else(invalid_path)?;
    match (parent(item, path)?, last) {
        (None, PathStep::Attribute(name)) => {
            item.remove(name);
        }
        (Some(AttributeValue::M(m)), PathStep::Attribute(name)) => {
            m.remove(name);
        }
        (Some(AttributeValue::L(l)), PathStep::Index(i)) => {
            if *i < l.len() {
                l.remove(*i);
            }
        }
        _ => return Err(invalid_path()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::{ExpressionKind, Parser, Placeholders};
    use crate::model::item_from_json;
    use crate::model::schema::KeyAttribute;
    use crate::model::ScalarType;
    use serde_json::{json, Value};

    fn key() -> KeySchema {
        KeySchema::simple(
            KeyAttribute {
                name: "p".into(),
                ty: ScalarType::S,
            },
            None,
        )
    }

    fn run(start: Value, src: &str, values: Value) -> Result<Value> {
        let mut p = Placeholders::default();
        if let Value::Object(m) = values {
            for (k, v) in m {
                p.values.insert(k, AttributeValue::from_json(&v).unwrap());
            }
        }
        let actions = Parser::new(src, ExpressionKind::Update, &mut p)?.update()?;
        validate(&actions, &key())?;
        let item = apply(&item_from_json(&start).unwrap(), &actions)?;
        Ok(serde_json::to_value(item).unwrap())
    }

    #[test]
    fn set_with_arithmetic_and_functions() {
        let out = run(json!({"p": {"S": "k"}, "n": {"N": "5"}, "l": {"L": [{"N": "1"}]}}),
            "SET n = n + :one, m = if_not_exists(m, :zero), l = list_append(l, :more), c = :one - n",
            json!({":one": {"N": "1"}, ":zero": {"N": "0"}, ":more": {"L": [{"N": "2"}]}})).unwrap();
        assert_eq!(out["n"], json!({"N": "6"}));
        assert_eq!(out["m"], json!({"N": "0"}));
        assert_eq!(out["l"], json!({"L": [{"N": "1"}, {"N": "2"}]}));
        // Right-hand sides read the item as it was.
        assert_eq!(out["c"], json!({"N": "-4"}));
    }

    #[test]
    fn set_values_may_stand_in_parentheses() {
        let start = json!({"p": {"S": "k"}, "l": {"L": [{"N": "1"}, {"N": "2"}]}, "m": {"M": {"a": {"N": "3"}}}});
        let out = run(
            start,
            "SET m.x = ((l[1]) + (m.a)), y = (if_not_exists(y, :one))",
            json!({":one": {"N": "1"}}),
        )
        .unwrap();
        assert_eq!(out["m"]["M"]["x"], json!({"N": "5"}));
        assert_eq!(out["y"], json!({"N": "1"}));
    }

    #[test]
    fn nested_set_and_remove() {
        let start = json!({"p": {"S": "k"}, "m": {"M": {"a": {"N": "1"}}}, "l": {"L": [{"S": "a"}, {"S": "b"}, {"S": "c"}]}});
        let out = run(
            start.clone(),
            "SET m.b = :v, l[1] = :v, l[9] = :v",
            json!({":v": {"S": "z"}}),
        )
        .unwrap();
        assert_eq!(out["m"], json!({"M": {"a": {"N": "1"}, "b": {"S": "z"}}}));
        assert_eq!(
            out["l"],
            json!({"L": [{"S": "a"}, {"S": "z"}, {"S": "c"}, {"S": "z"}]})
        );
        let out = run(start.clone(), "REMOVE l[0], l[2], m.a", json!({})).unwrap();
        assert_eq!(out["l"], json!({"L": [{"S": "b"}]}));
        assert_eq!(out["m"], json!({"M": {}}));
        let e = run(start, "SET nope.x = :v", json!({":v": {"S": "z"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The document path provided in the update expression is invalid for update"
        );
    }

    #[test]
    fn add_and_delete() {
        let start = json!({"p": {"S": "k"}, "n": {"N": "1"}, "ss": {"SS": ["a", "b"]}});
        let out = run(
            start.clone(),
            "ADD n :two, ss :c, fresh :two DELETE ss2 :c",
            json!({":two": {"N": "2"}, ":c": {"SS": ["c", "a"]}}),
        )
        .unwrap();
        assert_eq!(out["n"], json!({"N": "3"}));
        assert_eq!(out["fresh"], json!({"N": "2"}));
        assert_eq!(out["ss"], json!({"SS": ["a", "b", "c"]}));
        let out = run(
            start.clone(),
            "DELETE ss :ab",
            json!({":ab": {"SS": ["a", "b"]}}),
        )
        .unwrap();
        assert!(out.get("ss").is_none(), "an emptied set is removed");
        let e = run(start.clone(), "ADD ss :n", json!({":n": {"N": "1"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "An operand in the update expression has an incorrect data type"
        );
        let e = run(start, "ADD s :v", json!({":v": {"S": "x"}})).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("operator: ADD, operand type: STRING, typeSet: ALLOWED_FOR_ADD_OPERAND"),
            "{e}"
        );
    }

    #[test]
    fn refused_updates() {
        let start = json!({"p": {"S": "k"}, "n": {"N": "1"}});
        let e = run(start.clone(), "SET p = :v", json!({":v": {"S": "x"}})).unwrap_err();
        assert_eq!(e.to_string(), "One or more parameter values were invalid: Cannot update attribute p. This attribute is part of the key");
        let e = run(
            start.clone(),
            "SET a = :v REMOVE a.b",
            json!({":v": {"S": "x"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Two document paths overlap"), "{e}");
        let e = run(
            start.clone(),
            "SET a = :v SET b = :v",
            json!({":v": {"S": "x"}}),
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "Invalid UpdateExpression: The \"SET\" section can only be used once in an update expression;");
        let e = run(start.clone(), "SET n = n + :v", json!({":v": {"S": "x"}})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "An operand in the update expression has an incorrect data type"
        );
        let e = run(start.clone(), "SET a = absent", json!({})).unwrap_err();
        assert_eq!(
            e.to_string(),
            "The provided expression refers to an attribute that does not exist in the item"
        );
        let e = run(
            start,
            "SET n = :big + :big",
            json!({":big": {"N": "9e125"}}),
        )
        .unwrap_err();
        assert!(e.to_string().contains("Number overflow"), "{e}");
    }
}
