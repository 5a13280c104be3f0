//! WhiteLabelCRO's refinements of the shared error classification, from the §8 error body
//! (`{"error": {"code", "message", "details"}, "request_id"}`). The status code decides; the
//! body only sharpens it, and its messages (which may quote values) are never copied.

use connector_api::ConnectorError;
use connector_api::http::{ErrorInfo, ResponseClassifier};
use http::{HeaderMap, StatusCode};

/// The [`ResponseClassifier`] installed on the connector's client.
#[derive(Debug, Clone, Copy, Default)]
pub struct WlcroClassifier;

impl ResponseClassifier for WlcroClassifier {
    fn refine(
        &self,
        status: StatusCode,
        _headers: &HeaderMap,
        body: &[u8],
        default: &ConnectorError,
    ) -> Option<ConnectorError> {
        let info = ErrorInfo::parse(body);
        match (status.as_u16(), info.code.as_deref()) {
            // An unknown query parameter or a bad cursor is our bug, not the record's: keep it out
            // of the review queue and make it loud.
            (400, Some("unknown_parameter")) => Some(ConnectorError::Protocol {
                message: format!(
                    "whitelabelcro rejected query parameter `{}` (connector bug)",
                    info.field.as_deref().unwrap_or("?")
                ),
            }),
            // Data rules (§8: non-Lead status, unknown status name, unknown employee): the item
            // is permanently rejected; keep the code and field for the review item.
            // Every field `details.fields` names is in the message, the first in `field`.
            (422, code) => Some(ConnectorError::Invalid {
                message: format!(
                    "whitelabelcro validation failed{}{}",
                    code.map(|c| format!(" ({c})")).unwrap_or_default(),
                    info.named()
                ),
                code: code.map(str::to_string).or_else(|| Some("validation_failed".into())),
                field: info.field.clone(),
            }),
            // A 503 without Retry-After: still transient (maintenance), keep the default's delay.
            (503, _) => match default {
                ConnectorError::Transient { .. } => None,
                _ => Some(ConnectorError::Transient {
                    message: "whitelabelcro unavailable".into(),
                    retry_after: None,
                }),
            },
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use connector_api::ErrorClass;

    fn refine(status: u16, body: &str) -> Option<ConnectorError> {
        let default = ConnectorError::Invalid { message: "x".into(), code: None, field: None };
        WlcroClassifier.refine(
            StatusCode::from_u16(status).unwrap(),
            &HeaderMap::new(),
            body.as_bytes(),
            &default,
        )
    }

    #[test]
    fn section_8_bodies_are_refined_by_code() {
        let unknown = r#"{"error":{"code":"unknown_parameter","message":"m","details":{"parameter":"since"}},"request_id":"r"}"#;
        let e = refine(400, unknown).unwrap();
        assert_eq!(e.class(), ErrorClass::Protocol);
        assert!(e.to_string().contains("since"));
        let v = r#"{"error":{"code":"validation_failed","message":"'x@y' bad","details":{"fields":{"email":"bad"}}}}"#;
        let e = refine(422, v).unwrap();
        assert!(
            matches!(&e, ConnectorError::Invalid { field: Some(f), code: Some(c), .. } if f == "email" && c == "validation_failed")
        );
        assert!(!e.to_string().contains("x@y"), "values never copied");
        // Several fields (§8 `details.fields: {name: reason}`): the first in `field`, all named.
        let v = r#"{"error":{"code":"validation_failed","message":"m","details":{"fields":{"employee_id":"unknown employee 7","affiliate_id":"unknown affiliate 9"}}},"request_id":"r"}"#;
        let e = refine(422, v).unwrap();
        let ConnectorError::Invalid { message, field, .. } = &e else { panic!("{e:?}") };
        assert_eq!(field.as_deref(), Some("affiliate_id"));
        assert!(message.contains("fields: affiliate_id, employee_id"), "{message}");
        assert!(
            !message.contains("unknown employee") && !message.contains(" 7"),
            "reasons never copied: {message}"
        );
        assert_eq!(refine(422, "plain text").unwrap().class(), ErrorClass::Invalid);
        assert_eq!(refine(503, "").unwrap().class(), ErrorClass::Transient);
        assert!(refine(400, r#"{"title":"Bad","status":400}"#).is_none());
    }
}
