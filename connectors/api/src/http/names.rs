//! The field and property names an error names, read without ever copying a value: a name is
//! kept only from a place that holds names (a `fields` list, a `propertyName`, a key of
//! `details.fields`, HubSpot's JSON-in-a-string `name`, Salesforce's `No such column '…'`) and
//! only when it looks like an API name, so text quoting a value can never pass for one.

use serde_json::Value;

/// Longest name kept; API names are far shorter.
const MAX_NAME: usize = 100;

/// Whether `s` looks like a field or property API name: a letter or `_` first, then letters,
/// digits, `_` and `.` (relationship paths). An email, a phone number or a sentence never does.
pub fn is_field_name(s: &str) -> bool {
    let mut chars = s.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && s.len() <= MAX_NAME && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.'))
}

/// Whether `s` looks like an error code (`INVALID_OPTION`, `validation_failed`).
pub fn is_code(s: &str) -> bool {
    is_field_name(s) && !s.contains('.')
}

/// Appends `name` once, when it is a name.
pub(crate) fn push_name(out: &mut Vec<String>, name: &str) {
    if is_field_name(name) && !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// Appends the strings of `v` (a string or an array of strings) that are names.
pub(crate) fn push_names(out: &mut Vec<String>, v: Option<&Value>) {
    match v {
        Some(Value::String(s)) => push_name(out, s),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).for_each(|s| push_name(out, s)),
        _ => {}
    }
}

/// HubSpot's invalid-property message carries JSON inside a string (specs/hubspot-api.md §11):
/// `Property values were not valid: [{"isValid":false,"message":"…","error":"INVALID_OPTION",
/// "name":"lifecyclestage"}]`. Answers the `(name, error code)` pairs it lists; the inner
/// messages, which quote values, are not read.
pub fn hubspot_message_properties(message: &str) -> Vec<(String, Option<String>)> {
    let Some(start) = message.find('[') else { return Vec::new() };
    let mut stream = serde_json::Deserializer::from_str(&message[start..]).into_iter::<Vec<Value>>();
    let Some(Ok(items)) = stream.next() else { return Vec::new() };
    items
        .iter()
        .filter_map(|item| {
            let name = item.get("name").and_then(Value::as_str).filter(|n| is_field_name(n))?;
            let code = item.get("error").and_then(Value::as_str).filter(|c| is_code(c));
            Some((name.to_string(), code.map(str::to_string)))
        })
        .collect()
}

/// Salesforce names an unknown field only in the message of `INVALID_FIELD` (its `fields` is
/// empty): `No such column 'Foo__c' on sobject of type Contact`. Answers that column name.
pub fn salesforce_no_such_column(message: &str) -> Option<String> {
    let rest = message.split_once("No such column '")?.1;
    let name = rest.split_once('\'')?.0;
    is_field_name(name).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_api_names_never_values() {
        for ok in ["email", "lifecyclestage", "WLCRO_Id__c", "Account.Name", "_x1", "new_status"] {
            assert!(is_field_name(ok), "{ok}");
        }
        for bad in ["", "ann@example.test", "555-0100", "+14155550100", "Ann Lee", "'x'", "1abc", "a;b"] {
            assert!(!is_field_name(bad), "{bad}");
        }
        assert!(!is_field_name(&"a".repeat(MAX_NAME + 1)));
    }

    #[test]
    fn hubspot_json_in_a_string_gives_names_and_codes_only() {
        let m = r#"Property values were not valid: [{"isValid":false,"message":"ann@x.test was not a valid email","error":"INVALID_EMAIL","name":"email"},{"isValid":false,"message":"Property \"shoe\" does not exist","error":"PROPERTY_DOESNT_EXIST","name":"shoe"}]"#;
        let got = hubspot_message_properties(m);
        assert_eq!(
            got,
            vec![
                ("email".to_string(), Some("INVALID_EMAIL".to_string())),
                ("shoe".to_string(), Some("PROPERTY_DOESNT_EXIST".to_string()))
            ]
        );
        assert!(hubspot_message_properties("no json here").is_empty());
        assert!(hubspot_message_properties("broken [{\"name\":").is_empty());
        // A "name" that is not a name (a value smuggled in) is dropped.
        assert!(hubspot_message_properties(r#"x: [{"name":"ann@x.test"}]"#).is_empty());
    }

    #[test]
    fn salesforce_column_from_the_invalid_field_message() {
        let m = "No such column 'Shoe__c' on sobject of type Contact";
        assert_eq!(salesforce_no_such_column(m).as_deref(), Some("Shoe__c"));
        assert_eq!(salesforce_no_such_column("No such column 'a b' on entity"), None);
        assert_eq!(salesforce_no_such_column("something else"), None);
    }
}
