//! CloudFormation's intrinsic functions and conditions, resolved against parameter values and
//! the resources deployed so far: `Ref`, `Fn::GetAtt`, `Fn::Sub`, `Fn::Join`, `Fn::If`,
//! `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Base64`, `Fn::Equals`, `Fn::Not`, `Fn::And`,
//! `Fn::Or`, `Condition`, and `AWS::NoValue` (which removes the member it stands for).

use std::collections::{BTreeMap, BTreeSet, HashMap};

use base64::Engine as _;
use serde_json::{Map, Value};

/// What a deployed resource gives `Ref` and `Fn::GetAtt`.
pub trait Referable {
    fn reference(&self) -> &str;
    fn attribute(&self, name: &str) -> Option<&Value>;
}

pub struct Resolver<'a, R> {
    /// Parameters and pseudo parameters (`AWS::Region`, `AWS::StackName`, ...).
    pub params: &'a HashMap<String, Value>,
    pub conditions: &'a HashMap<String, bool>,
    pub mappings: &'a Map<String, Value>,
    pub resources: &'a BTreeMap<String, R>,
}

/// `Some(name)` when `v` is `{"Fn::<name>": ...}` or `{"Ref"|"Condition": ...}`, with the
/// argument.
fn intrinsic(v: &Value) -> Option<(&str, &Value)> {
    let m = v.as_object()?;
    if m.len() != 1 {
        return None;
    }
    let (k, arg) = m.iter().next()?;
    (k == "Ref" || k == "Condition" || k.starts_with("Fn::")).then_some((k.as_str(), arg))
}

fn text(v: &Value) -> Result<String, String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        other => Err(format!("expected a string, found {other}")),
    }
}

/// The `${...}` names in a `Fn::Sub` string, with the literal text between them.
enum Piece<'a> {
    Text(&'a str),
    Var(&'a str),
}

fn sub_pieces(s: &str) -> Result<Vec<Piece<'_>>, String> {
    let mut pieces = Vec::new();
    let mut rest = s;
    while let Some(start) = rest.find("${") {
        pieces.push(Piece::Text(&rest[..start]));
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("Fn::Sub: unclosed ${{ in {s}"))?;
        let name = &after[..end];
        if let Some(literal) = name.strip_prefix('!') {
            // `${!Literal}` stands for the text `${Literal}`.
            pieces.push(Piece::Text(&rest[start..start + 2]));
            pieces.push(Piece::Text(literal));
            pieces.push(Piece::Text("}"));
        } else {
            pieces.push(Piece::Var(name.trim()));
        }
        rest = &after[end + 1..];
    }
    pieces.push(Piece::Text(rest));
    Ok(pieces)
}

/// The logical names `v` refers to (through `Ref`, `Fn::GetAtt` and `Fn::Sub`), parameters
/// and pseudo parameters included.
pub fn references(v: &Value, out: &mut BTreeSet<String>) {
    match intrinsic(v) {
        Some(("Ref", Value::String(name))) => {
            out.insert(name.clone());
        }
        Some(("Fn::GetAtt", Value::Array(a))) => {
            if let Some(name) = a.first().and_then(Value::as_str) {
                out.insert(name.to_string());
            }
            a.iter().skip(1).for_each(|x| references(x, out));
        }
        Some(("Fn::Sub", arg)) => {
            let (s, vars) = match arg {
                Value::Array(a) => (a.first(), a.get(1)),
                other => (Some(other), None),
            };
            let local: BTreeSet<&str> = vars
                .and_then(Value::as_object)
                .map(|m| m.keys().map(String::as_str).collect())
                .unwrap_or_default();
            if let Some(Ok(pieces)) = s.and_then(Value::as_str).map(sub_pieces) {
                for p in pieces {
                    if let Piece::Var(name) = p {
                        let base = name.split('.').next().unwrap_or(name);
                        if !local.contains(name) {
                            out.insert(base.to_string());
                        }
                    }
                }
            }
            if let Some(vars) = vars {
                references(vars, out);
            }
        }
        _ => match v {
            Value::Array(a) => a.iter().for_each(|x| references(x, out)),
            Value::Object(m) => m.values().for_each(|x| references(x, out)),
            _ => {}
        },
    }
}

/// Every condition's value; conditions may use others (cycles are refused).
pub fn evaluate_conditions<R: Referable>(
    conditions: &Map<String, Value>,
    params: &HashMap<String, Value>,
    mappings: &Map<String, Value>,
) -> Result<HashMap<String, bool>, String> {
    let mut done: HashMap<String, bool> = HashMap::new();
    // Each pass settles the conditions whose inputs are settled.
    for _ in 0..=conditions.len() {
        let mut progressed = false;
        for (name, expr) in conditions {
            if done.contains_key(name) {
                continue;
            }
            let mut uses = BTreeSet::new();
            conditions_used(expr, &mut uses);
            if let Some(unknown) = uses.iter().find(|u| !conditions.contains_key(*u)) {
                return Err(format!(
                    "Template error: condition {name} uses unknown condition {unknown}"
                ));
            }
            if uses.iter().all(|u| done.contains_key(u)) {
                let resources = BTreeMap::<String, R>::new();
                let r = Resolver {
                    params,
                    conditions: &done,
                    mappings,
                    resources: &resources,
                };
                let value = r
                    .condition(expr)
                    .map_err(|e| format!("Condition {name}: {e}"))?;
                done.insert(name.clone(), value);
                progressed = true;
            }
        }
        if !progressed {
            break;
        }
    }
    match conditions.keys().find(|k| !done.contains_key(*k)) {
        Some(k) => Err(format!("Template error: condition {k} depends on itself")),
        None => Ok(done),
    }
}

fn conditions_used(v: &Value, out: &mut BTreeSet<String>) {
    match intrinsic(v) {
        Some(("Condition", Value::String(name))) => {
            out.insert(name.clone());
        }
        _ => match v {
            Value::Array(a) => a.iter().for_each(|x| conditions_used(x, out)),
            Value::Object(m) => m.values().for_each(|x| conditions_used(x, out)),
            _ => {}
        },
    }
}

impl<R: Referable> Resolver<'_, R> {
    /// `v` with every intrinsic function applied; `None` for `AWS::NoValue`.
    pub fn resolve(&self, v: &Value) -> Result<Option<Value>, String> {
        if let Some((name, arg)) = intrinsic(v) {
            return self.apply(name, arg);
        }
        Ok(Some(match v {
            Value::Array(a) => {
                let mut out = Vec::with_capacity(a.len());
                for x in a {
                    out.extend(self.resolve(x)?);
                }
                Value::Array(out)
            }
            Value::Object(m) => {
                let mut out = Map::new();
                for (k, x) in m {
                    if let Some(value) = self.resolve(x)? {
                        out.insert(k.clone(), value);
                    }
                }
                Value::Object(out)
            }
            other => other.clone(),
        }))
    }

    /// `v` resolved where a value is required.
    pub fn value(&self, v: &Value) -> Result<Value, String> {
        self.resolve(v)?
            .ok_or_else(|| "AWS::NoValue where a value is required".to_string())
    }

    fn apply(&self, name: &str, arg: &Value) -> Result<Option<Value>, String> {
        let list = |n: usize| -> Result<&Vec<Value>, String> {
            arg.as_array()
                .filter(|a| a.len() == n)
                .ok_or_else(|| format!("{name} takes a list of {n}"))
        };
        Ok(Some(match name {
            "Ref" => {
                let target = arg.as_str().ok_or("Ref takes a name")?;
                if target == "AWS::NoValue" {
                    return Ok(None);
                }
                self.reference(target)?
            }
            "Fn::GetAtt" => {
                let a = list(2)?;
                let resource = a[0].as_str().ok_or("Fn::GetAtt takes a resource name")?;
                let attribute = text(&self.value(&a[1])?)?;
                self.attribute(resource, &attribute)?
            }
            "Fn::Sub" => self.sub(arg)?,
            "Fn::Join" => {
                let a = list(2)?;
                let sep = text(&a[0])?;
                let items = self.value(&a[1])?;
                let items = items.as_array().ok_or("Fn::Join takes a list to join")?;
                let parts: Result<Vec<String>, String> = items.iter().map(text).collect();
                Value::String(parts?.join(&sep))
            }
            "Fn::If" => {
                let a = list(3)?;
                let condition = a[0].as_str().ok_or("Fn::If takes a condition name")?;
                let chosen = if self.named_condition(condition)? {
                    &a[1]
                } else {
                    &a[2]
                };
                return self.resolve(chosen);
            }
            "Fn::Select" => {
                let a = list(2)?;
                let index: usize = text(&self.value(&a[0])?)?
                    .parse()
                    .map_err(|_| "Fn::Select takes an index")?;
                let items = self.value(&a[1])?;
                items
                    .as_array()
                    .and_then(|l| l.get(index))
                    .cloned()
                    .ok_or_else(|| format!("Fn::Select: index {index} out of range"))?
            }
            "Fn::Split" => {
                let a = list(2)?;
                let sep = text(&a[0])?;
                let whole = text(&self.value(&a[1])?)?;
                Value::from(whole.split(sep.as_str()).collect::<Vec<_>>())
            }
            "Fn::FindInMap" => {
                let a = list(3)?;
                let keys: Result<Vec<String>, String> = a
                    .iter()
                    .map(|k| self.value(k).and_then(|v| text(&v)))
                    .collect();
                let keys = keys?;
                self.mappings
                    .get(&keys[0])
                    .and_then(|m| m.get(&keys[1]))
                    .and_then(|m| m.get(&keys[2]))
                    .cloned()
                    .ok_or_else(|| format!("Fn::FindInMap: no {}", keys.join(".")))?
            }
            "Fn::Base64" => Value::String(
                base64::engine::general_purpose::STANDARD.encode(text(&self.value(arg)?)?),
            ),
            "Fn::Equals" | "Fn::Not" | "Fn::And" | "Fn::Or" | "Condition" => {
                Value::Bool(self.condition(&single(name, arg))?)
            }
            other => return Err(format!("{other} is not supported by dynarock deploy")),
        }))
    }

    fn reference(&self, target: &str) -> Result<Value, String> {
        if let Some(p) = self.params.get(target) {
            return Ok(p.clone());
        }
        match self.resources.get(target) {
            Some(r) => Ok(Value::String(r.reference().to_string())),
            None => Err(format!(
                "Template format error: Unresolved resource dependencies [{target}] in the Resources block of the template"
            )),
        }
    }

    fn attribute(&self, resource: &str, attribute: &str) -> Result<Value, String> {
        let r = self.resources.get(resource).ok_or_else(|| {
            format!(
                "Template error: instance of Fn::GetAtt references undefined resource {resource}"
            )
        })?;
        r.attribute(attribute).cloned().ok_or_else(|| {
            format!("Template error: resource {resource} does not support attribute type {attribute} in Fn::GetAtt")
        })
    }

    fn sub(&self, arg: &Value) -> Result<Value, String> {
        let (s, vars) = match arg {
            Value::Array(a) if a.len() == 2 => (&a[0], a[1].as_object()),
            Value::String(_) => (arg, None),
            _ => return Err("Fn::Sub takes a string or [string, variables]".into()),
        };
        let s = s.as_str().ok_or("Fn::Sub takes a string")?;
        let mut out = String::new();
        for piece in sub_pieces(s)? {
            match piece {
                Piece::Text(t) => out.push_str(t),
                Piece::Var(name) => {
                    let value = match (vars.and_then(|v| v.get(name)), name.split_once('.')) {
                        (Some(v), _) => self.value(v)?,
                        (None, Some((resource, attribute))) if !self.params.contains_key(name) => {
                            self.attribute(resource, attribute)?
                        }
                        (None, _) => self.reference(name)?,
                    };
                    out.push_str(&text(&value)?);
                }
            }
        }
        Ok(Value::String(out))
    }

    fn named_condition(&self, name: &str) -> Result<bool, String> {
        self.conditions
            .get(name)
            .copied()
            .ok_or_else(|| format!("Template error: unresolved condition dependency {name}"))
    }

    /// A condition expression's truth.
    pub fn condition(&self, v: &Value) -> Result<bool, String> {
        let (name, arg) = intrinsic(v).ok_or("a condition must be a condition function")?;
        let items = || arg.as_array().ok_or_else(|| format!("{name} takes a list"));
        match name {
            "Condition" => self.named_condition(arg.as_str().ok_or("Condition takes a name")?),
            "Fn::Equals" => {
                let a = items()?;
                if a.len() != 2 {
                    return Err("Fn::Equals takes two values".into());
                }
                let (x, y) = (self.value(&a[0])?, self.value(&a[1])?);
                Ok(text(&x)
                    .ok()
                    .zip(text(&y).ok())
                    .map_or(x == y, |(x, y)| x == y))
            }
            "Fn::Not" => match items()?.as_slice() {
                [one] => Ok(!self.condition(one)?),
                _ => Err("Fn::Not takes one condition".into()),
            },
            "Fn::And" | "Fn::Or" => {
                let a = items()?;
                if !(2..=10).contains(&a.len()) {
                    return Err(format!("{name} takes 2 to 10 conditions"));
                }
                let values: Result<Vec<bool>, String> =
                    a.iter().map(|c| self.condition(c)).collect();
                let values = values?;
                Ok(if name == "Fn::And" {
                    values.iter().all(|b| *b)
                } else {
                    values.iter().any(|b| *b)
                })
            }
            other => Err(format!("{other} is not a condition function")),
        }
    }
}

fn single(key: &str, value: &Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), value.clone());
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    struct Fake(String, Map<String, Value>);

    impl Referable for Fake {
        fn reference(&self) -> &str {
            &self.0
        }
        fn attribute(&self, name: &str) -> Option<&Value> {
            self.1.get(name)
        }
    }

    fn check(v: Value) -> Result<Option<Value>, String> {
        let params: HashMap<String, Value> = [
            ("Env".to_string(), json!("prod")),
            ("AWS::Region".to_string(), json!("eu-west-1")),
        ]
        .into();
        let mut attrs = Map::new();
        attrs.insert("Arn".into(), json!("arn:t"));
        let resources: BTreeMap<String, Fake> =
            [("T".to_string(), Fake("table-1".into(), attrs))].into();
        let mappings = json!({"M": {"prod": {"Size": 3}}});
        let conditions =
            evaluate_conditions::<Fake>(&json!({"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}, "NotProd": {"Fn::Not": [{"Condition": "IsProd"}]}}).as_object().unwrap().clone(), &params, mappings.as_object().unwrap())?;
        let r = Resolver {
            params: &params,
            conditions: &conditions,
            mappings: mappings.as_object().unwrap(),
            resources: &resources,
        };
        r.resolve(&v)
    }

    #[test]
    fn intrinsics_resolve() {
        assert_eq!(check(json!({"Ref": "T"})).unwrap(), Some(json!("table-1")));
        assert_eq!(
            check(json!({"Fn::Sub": "${T}/${T.Arn}/${AWS::Region}/${!Literal}"})).unwrap(),
            Some(json!("table-1/arn:t/eu-west-1/${Literal}"))
        );
        assert_eq!(
            check(json!({"Fn::Sub": ["${X}-${Env}", {"X": {"Ref": "T"}}]})).unwrap(),
            Some(json!("table-1-prod"))
        );
        assert_eq!(
            check(json!({"Fn::Join": [":", ["a", {"Ref": "Env"}]]})).unwrap(),
            Some(json!("a:prod"))
        );
        assert_eq!(
            check(json!({"a": {"Fn::If": ["NotProd", 1, {"Ref": "AWS::NoValue"}]}, "b": [{"Fn::If": ["IsProd", 2, 3]}]})).unwrap(),
            Some(json!({"b": [2]}))
        );
        assert_eq!(
            check(json!({"Fn::FindInMap": ["M", {"Ref": "Env"}, "Size"]})).unwrap(),
            Some(json!(3))
        );
        assert_eq!(
            check(json!({"Fn::Select": [1, {"Fn::Split": [",", "a,b,c"]}]})).unwrap(),
            Some(json!("b"))
        );
        assert!(check(json!({"Ref": "Nope"}))
            .unwrap_err()
            .contains("Unresolved resource dependencies [Nope]"));
        assert!(check(json!({"Fn::GetAtt": ["T", "StreamArn"]}))
            .unwrap_err()
            .contains("does not support attribute type StreamArn"));
    }

    #[test]
    fn references_are_found() {
        let mut out = BTreeSet::new();
        references(
            &json!({"a": {"Fn::Sub": ["${A.Arn}-${B}-${X}", {"X": {"Ref": "C"}}]}, "b": [{"Fn::GetAtt": ["D", "Arn"]}]}),
            &mut out,
        );
        assert_eq!(
            out.into_iter().collect::<Vec<_>>(),
            vec!["A", "B", "C", "D"]
        );
    }

    #[test]
    fn condition_cycles_are_refused() {
        let c = json!({"A": {"Condition": "B"}, "B": {"Fn::Not": [{"Condition": "A"}]}});
        let err = evaluate_conditions::<Fake>(c.as_object().unwrap(), &HashMap::new(), &Map::new())
            .unwrap_err();
        assert!(err.contains("depends on itself"), "{err}");
    }
}
