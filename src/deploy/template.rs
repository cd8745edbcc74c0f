//! Reading a template: YAML (or JSON) with CloudFormation's short-form tags turned into the
//! long form (`!Ref X` → `{"Ref": "X"}`, `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`), and
//! its parameters given their values.

use std::collections::HashMap;

use serde_json::{Map, Value};

/// A template's sections, each a JSON object (empty when absent).
#[derive(Debug, Clone)]
pub struct Template {
    pub transform: Vec<String>,
    pub parameters: Map<String, Value>,
    pub mappings: Map<String, Value>,
    pub conditions: Map<String, Value>,
    pub globals: Map<String, Value>,
    pub resources: Map<String, Value>,
    pub outputs: Map<String, Value>,
}

/// Parses a template's text.
pub fn parse(text: &str) -> Result<Template, String> {
    let yaml: serde_yaml_ng::Value = serde_yaml_ng::from_str(text)
        .map_err(|e| format!("the template is not valid YAML: {e}"))?;
    let json = to_json(yaml)?;
    let Value::Object(mut top) = json else {
        return Err("the template must be a mapping of sections".into());
    };
    let mut section = |name: &str| -> Result<Map<String, Value>, String> {
        match top.remove(name) {
            None | Some(Value::Null) => Ok(Map::new()),
            Some(Value::Object(m)) => Ok(m),
            Some(_) => Err(format!("the template's {name} section must be a mapping")),
        }
    };
    let parameters = section("Parameters")?;
    let mappings = section("Mappings")?;
    let conditions = section("Conditions")?;
    let globals = section("Globals")?;
    let resources = section("Resources")?;
    let outputs = section("Outputs")?;
    let transform = match top.remove("Transform") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s],
        Some(Value::Array(list)) => list
            .into_iter()
            .map(|v| v.as_str().map(str::to_string))
            .collect::<Option<_>>()
            .ok_or("Transform must name transforms")?,
        Some(_) => return Err("Transform must name transforms".into()),
    };
    if resources.is_empty() {
        return Err("the template has no Resources".into());
    }
    Ok(Template {
        transform,
        parameters,
        mappings,
        conditions,
        globals,
        resources,
        outputs,
    })
}

/// YAML to JSON, short-form intrinsic functions made long.
fn to_json(v: serde_yaml_ng::Value) -> Result<Value, String> {
    use serde_yaml_ng::Value as Y;
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => serde_json::to_value(&n).map_err(|e| e.to_string())?,
        Y::String(s) => Value::String(s),
        Y::Sequence(list) => Value::Array(list.into_iter().map(to_json).collect::<Result<_, _>>()?),
        Y::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                let key = match k {
                    Y::String(s) => s,
                    Y::Number(n) => n.to_string(),
                    Y::Bool(b) => b.to_string(),
                    other => return Err(format!("a mapping key must be a string, not {other:?}")),
                };
                out.insert(key, to_json(v)?);
            }
            Value::Object(out)
        }
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let name = tag.trim_start_matches('!');
            let value = to_json(tagged.value)?;
            long_form(name, value)?
        }
    })
}

/// `!Name value` as CloudFormation's long form.
fn long_form(name: &str, value: Value) -> Result<Value, String> {
    let key = match name {
        "Ref" | "Condition" => name.to_string(),
        "GetAtt" => {
            let value = match value {
                Value::String(s) => {
                    let (resource, attribute) = s
                        .split_once('.')
                        .ok_or_else(|| format!("!GetAtt {s}: expected Resource.Attribute"))?;
                    Value::from(vec![resource, attribute])
                }
                other => other,
            };
            return Ok(single("Fn::GetAtt", value));
        }
        "Sub" | "Join" | "If" | "Equals" | "Not" | "And" | "Or" | "Select" | "Split"
        | "FindInMap" | "Base64" | "GetAZs" | "ImportValue" | "Cidr" | "ToJsonString"
        | "Length" => format!("Fn::{name}"),
        other => return Err(format!("unknown tag !{other}")),
    };
    Ok(single(&key, value))
}

fn single(key: &str, value: Value) -> Value {
    let mut m = Map::new();
    m.insert(key.to_string(), value);
    Value::Object(m)
}

/// Each parameter's value: the override, else the default; checked against `AllowedValues`,
/// `AllowedPattern`-free types (`String`, `Number`, `CommaDelimitedList`, ...).
pub fn parameter_values(
    template: &Template,
    overrides: &HashMap<String, String>,
) -> Result<HashMap<String, Value>, String> {
    for name in overrides.keys() {
        if !template.parameters.contains_key(name) {
            return Err(format!("Parameters: [{name}] do not exist in the template"));
        }
    }
    let mut values = HashMap::new();
    for (name, spec) in &template.parameters {
        let given = overrides.get(name).map(|s| Value::String(s.clone()));
        let value = given
            .or_else(|| spec.get("Default").cloned())
            .ok_or_else(|| format!("Parameters: [{name}] must have values"))?;
        let text = match &value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        if let Some(allowed) = spec.get("AllowedValues").and_then(Value::as_array) {
            let ok = allowed.iter().any(|a| {
                let allowed_text = match a {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                allowed_text == text
            });
            if !ok {
                return Err(format!("Parameter '{name}' must be one of AllowedValues"));
            }
        }
        let kind = spec.get("Type").and_then(Value::as_str).unwrap_or("String");
        let value = match kind {
            "Number" => {
                text.parse::<f64>()
                    .map_err(|_| format!("Parameter '{name}' must be a number"))?;
                Value::String(text)
            }
            "CommaDelimitedList" | "List<Number>" => Value::from(
                text.split(',')
                    .map(|s| s.trim().to_string())
                    .collect::<Vec<_>>(),
            ),
            _ => Value::String(text),
        };
        values.insert(name.clone(), value);
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn short_forms_become_long_forms() {
        let t = parse(
            r#"
Transform: AWS::Serverless-2016-10-31
Parameters:
  Days: {Type: Number, Default: 30}
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      Environment:
        Variables:
          TABLE: !Ref Orders
          ARN: !GetAtt Orders.StreamArn
          URL: !Sub "https://${Api}.example.com/${Stage}"
          BOTH: !Join ["-", [!Ref Days, !Select [0, !Split [",", "a,b"]]]]
          MAYBE: !If [IsProd, "yes", !Ref "AWS::NoValue"]
"#,
        )
        .unwrap();
        let vars = &t.resources["Fn"]["Properties"]["Environment"]["Variables"];
        assert_eq!(vars["TABLE"], json!({"Ref": "Orders"}));
        assert_eq!(vars["ARN"], json!({"Fn::GetAtt": ["Orders", "StreamArn"]}));
        assert_eq!(
            vars["URL"],
            json!({"Fn::Sub": "https://${Api}.example.com/${Stage}"})
        );
        assert_eq!(
            vars["BOTH"],
            json!({"Fn::Join": ["-", [{"Ref": "Days"}, {"Fn::Select": [0, {"Fn::Split": [",", "a,b"]}]}]]})
        );
        assert_eq!(
            vars["MAYBE"],
            json!({"Fn::If": ["IsProd", "yes", {"Ref": "AWS::NoValue"}]})
        );
        assert_eq!(t.transform, vec!["AWS::Serverless-2016-10-31"]);
    }

    #[test]
    fn bad_templates_are_refused_with_a_reason() {
        assert!(parse("a: [").unwrap_err().contains("not valid YAML"));
        assert!(parse("Resources: {}").unwrap_err().contains("no Resources"));
        assert!(parse("Resources:\n  A: !Nope x")
            .unwrap_err()
            .contains("!Nope"));
        assert!(parse("Resources:\n  A: !GetAtt x")
            .unwrap_err()
            .contains("Resource.Attribute"));
    }

    #[test]
    fn parameters_take_overrides_and_defaults() {
        let t = parse(
            "Parameters:\n  A: {Type: String, Default: x, AllowedValues: [x, y]}\n  B: {Type: Number}\nResources:\n  R: {Type: T}",
        )
        .unwrap();
        let o = |pairs: &[(&str, &str)]| {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<HashMap<_, _>>()
        };
        assert!(parameter_values(&t, &o(&[]))
            .unwrap_err()
            .contains("[B] must have values"));
        let v = parameter_values(&t, &o(&[("B", "3")])).unwrap();
        assert_eq!((v["A"].clone(), v["B"].clone()), (json!("x"), json!("3")));
        assert!(parameter_values(&t, &o(&[("A", "z"), ("B", "1")])).is_err());
        assert!(parameter_values(&t, &o(&[("B", "x")])).is_err());
        assert!(parameter_values(&t, &o(&[("C", "1"), ("B", "1")]))
            .unwrap_err()
            .contains("[C] do not exist"));
    }
}
