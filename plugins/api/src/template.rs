//! PNDA's templating of component files (Python's `string.Template.safe_substitute`):
//! `${name}` and `$name` are replaced by the property's value, unknown names are left as they
//! are, and `$$` stands for a literal `$`. Names are `[_A-Za-z][_A-Za-z0-9]*`, so dotted keys
//! such as `${user.name}` are never touched. dmd applies it only to the files a plan lists.

use serde_json::{Map, Value};

/// Fills `text` with `properties`, rendering values as PNDA did (Python's `str()`).
pub fn substitute(
    text: &str,
    properties: &Map<String, Value>,
    render: impl Fn(&Value) -> String,
) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        let (name, consumed) = if let Some(braced) = after.strip_prefix('{') {
            match braced.find('}') {
                Some(end) if is_identifier(&braced[..end]) => (&braced[..end], end + 2),
                _ => ("", 0),
            }
        } else {
            let len = identifier_len(after);
            (&after[..len], len)
        };
        match properties.get(name).filter(|_| !name.is_empty()) {
            Some(value) => {
                out.push_str(&render(value));
                rest = &after[consumed..];
            }
            None => {
                // Unknown or malformed: left untouched, like safe_substitute.
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn identifier_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    if bytes
        .first()
        .is_none_or(|b| !(b.is_ascii_alphabetic() || *b == b'_'))
    {
        return 0;
    }
    bytes
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
        .count()
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && identifier_len(s) == s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fill(text: &str) -> String {
        let props = json!({"component_job_name": "app-c-job", "n": 5, "flag": true, "a_b": "x"});
        substitute(text, props.as_object().unwrap(), |v| match v {
            Value::String(s) => s.clone(),
            Value::Bool(true) => "True".into(),
            other => other.to_string(),
        })
    }

    #[test]
    fn pnda_template_semantics() {
        assert_eq!(
            fill("name=${component_job_name} n=$n"),
            "name=app-c-job n=5"
        );
        assert_eq!(fill("$flag${a_b}z $a_bz"), "Truexz $a_bz");
        assert_eq!(
            fill("cost: $$5, ${missing} $missing ${user.name} $ end$"),
            "cost: $5, ${missing} $missing ${user.name} $ end$"
        );
        assert_eq!(fill("${n"), "${n");
        assert_eq!(fill("ünïcode ${n} ✓"), "ünïcode 5 ✓");
    }
}
