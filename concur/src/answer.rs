//! Reading the token endpoint's answer. Pure (bytes in, typed answer or diagnosis out), so every
//! documented variant is unit-tested and arbitrary bytes are fuzzed.

use base64::Engine;
use serde_json::{Map, Value};

use crate::diagnosis::{ConcurReply, Diagnosis, GrantKind, Problem};
use crate::input::{AccessToken, AuthorizationUrl, CompanyUuid, RefreshToken};

/// A successful token answer, every field tolerant of the documented variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenAnswer {
    pub access_token: AccessToken,
    /// Access-token lifetime in seconds (`expires_in`, number or numeric string).
    pub expires_in: Option<i64>,
    pub scopes: Vec<String>,
    /// Absent from client-credentials answers; then the old refresh token stays current.
    pub refresh_token: Option<RefreshToken>,
    /// `refresh_expires_in` as sent: an absolute Unix time despite its name.
    pub refresh_expires_in: Option<i64>,
    pub geolocation: Option<AuthorizationUrl>,
    /// The `sub` of the `id_token`, which is the company UUID for company tokens.
    pub company_uuid: Option<CompanyUuid>,
    pub correlation_id: Option<String>,
}

/// An HTTP answer as received, before it means anything.
#[derive(Debug, Clone, Copy)]
pub struct RawReply<'a> {
    pub status: u16,
    pub correlation_id: Option<&'a str>,
    pub retry_after: Option<&'a str>,
    pub body: &'a [u8],
}

/// Reads a token endpoint answer: a [`TokenAnswer`], or the [`Diagnosis`] of a failure.
pub fn read_token_answer(grant: GrantKind, raw: RawReply<'_>) -> Result<TokenAnswer, Diagnosis> {
    let object = match serde_json::from_slice::<Value>(raw.body) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    };
    let header_id = raw.correlation_id.map(str::to_owned);
    let correlation_id = object
        .as_ref()
        .and_then(|m| text(m, "concur-correlationid"))
        .or(header_id);
    let mut reply = ConcurReply {
        http_status: Some(raw.status),
        correlation_id,
        ..ConcurReply::default()
    };
    let fail = |problem, reply: ConcurReply| Diagnosis {
        problem,
        reply: Box::new(reply),
    };

    if let Some(map) = &object {
        reply.error = text(map, "error");
        reply.code = integer(map, "code");
        reply.description = text(map, "error_description");
    }
    match raw.status {
        200..=299 => {}
        429 => {
            let retry_after_seconds = raw.retry_after.and_then(|v| v.trim().parse().ok());
            return Err(fail(
                Problem::RateLimited {
                    retry_after_seconds,
                },
                reply,
            ));
        }
        500..=599 => return Err(fail(Problem::ConcurUnavailable, reply)),
        300..=399 => {
            let what = format!("HTTP {} redirect, which is not followed", raw.status);
            return Err(fail(Problem::UnexpectedAnswer { what }, reply));
        }
        _ => {
            let Some(map) = &object else {
                let what = format!("HTTP {} with {}", raw.status, describe_body(raw.body));
                return Err(fail(Problem::UnexpectedAnswer { what }, reply));
            };
            let geolocation = text(map, "geolocation");
            return Err(Diagnosis::from_reply(grant, reply, geolocation));
        }
    }
    let Some(map) = object else {
        let what = describe_body(raw.body);
        return Err(fail(Problem::UnexpectedAnswer { what }, reply));
    };
    let Some(access_token) = text(&map, "access_token").filter(|t| !t.is_empty()) else {
        let what = "a success without an access_token".to_owned();
        return Err(fail(Problem::UnexpectedAnswer { what }, reply));
    };
    Ok(TokenAnswer {
        access_token: AccessToken::new(access_token),
        expires_in: integer(&map, "expires_in"),
        scopes: text(&map, "scope")
            .map(|s| s.split_whitespace().map(str::to_owned).collect())
            .unwrap_or_default(),
        refresh_token: text(&map, "refresh_token").and_then(|t| RefreshToken::parse(&t).ok()),
        refresh_expires_in: integer(&map, "refresh_expires_in"),
        geolocation: text(&map, "geolocation").and_then(|g| AuthorizationUrl::parse(&g).ok()),
        company_uuid: text(&map, "id_token").and_then(|t| jwt_subject(&t)),
        correlation_id: reply.correlation_id,
    })
}

fn describe_body(body: &[u8]) -> String {
    let start = String::from_utf8_lossy(&body[..body.len().min(64)]).to_ascii_lowercase();
    let start = start.trim_start();
    if body.is_empty() {
        "an empty body".into()
    } else if start.starts_with('<') {
        "an HTML page, probably from a proxy or firewall".into()
    } else {
        "a body that is not JSON".into()
    }
}

fn text(map: &Map<String, Value>, key: &str) -> Option<String> {
    match map.get(key)? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// Concur prints numbers both as numbers and as numeric strings; both are accepted.
fn integer(map: &Map<String, Value>, key: &str) -> Option<i64> {
    match map.get(key)? {
        Value::Number(n) => n.as_i64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 1e15)
                .map(|f| f as i64)
        }),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The `sub` claim of a JWT, read without verifying the signature: it only labels the
/// connection with its company, it authorises nothing.
fn jwt_subject(jwt: &str) -> Option<CompanyUuid> {
    let payload = jwt.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    CompanyUuid::parse(claims.get("sub")?.as_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(body: &str) -> TokenAnswer {
        let raw = RawReply {
            status: 200,
            correlation_id: Some("hdr-1"),
            retry_after: None,
            body: body.as_bytes(),
        };
        read_token_answer(GrantKind::RefreshToken, raw).unwrap()
    }

    fn err(status: u16, body: &str, retry_after: Option<&str>) -> Diagnosis {
        let raw = RawReply {
            status,
            correlation_id: None,
            retry_after,
            body: body.as_bytes(),
        };
        read_token_answer(GrantKind::RefreshToken, raw).unwrap_err()
    }

    fn id_token(sub: &str) -> String {
        let enc = |s: String| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s);
        format!(
            "{}.{}.sig",
            enc(r#"{"alg":"RS256"}"#.into()),
            enc(format!(r#"{{"sub":"{sub}"}}"#))
        )
    }

    #[test]
    fn reads_a_real_capture_with_numbers() {
        let body = format!(
            r#"{{"expires_in":3600,"scope":"openid EXPRPT  identity.user.core.read","token_type":"Bearer","access_token":"eyJ.a.b","refresh_token":"e013335d-b4ce-4c43-a7e4-b67abc1adcb0","refresh_expires_in":1703696549,"geolocation":"https://us2.api.concursolutions.com","id_token":"{}"}}"#,
            id_token("6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d")
        );
        let a = ok(&body);
        assert_eq!(a.expires_in, Some(3600));
        assert_eq!(a.refresh_expires_in, Some(1_703_696_549));
        assert_eq!(a.scopes, ["openid", "EXPRPT", "identity.user.core.read"]);
        assert_eq!(
            a.refresh_token.unwrap().expose(),
            "e013335d-b4ce-4c43-a7e4-b67abc1adcb0"
        );
        assert_eq!(
            a.geolocation.unwrap().as_str(),
            "https://us2.api.concursolutions.com"
        );
        assert_eq!(
            a.company_uuid.unwrap().as_str(),
            "6a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
        );
        assert_eq!(a.correlation_id.as_deref(), Some("hdr-1"));
    }

    #[test]
    fn reads_the_reference_docs_variant_with_strings_and_sloppy_geolocation() {
        let a = ok(
            r#"{"expires_in":"3600","refresh_expires_in":" 1703696549","access_token":"x","geolocation":"https://us.api.Concursolutions.com/oauth2/v0/token"}"#,
        );
        assert_eq!(a.expires_in, Some(3600));
        assert_eq!(a.refresh_expires_in, Some(1_703_696_549));
        assert_eq!(
            a.geolocation.unwrap().as_str(),
            "https://us.api.concursolutions.com"
        );
    }

    #[test]
    fn missing_fields_stay_unknown() {
        let a = ok(r#"{"access_token":"x"}"#);
        assert_eq!(a.expires_in, None);
        assert_eq!(a.refresh_expires_in, None);
        assert_eq!(a.refresh_token, None);
        assert!(a.scopes.is_empty());
        assert_eq!(a.company_uuid, None);
    }

    #[test]
    fn error_body_keeps_concur_fields_and_the_body_correlation_id() {
        let d = err(
            400,
            r#"{"error":"invalid_grant","error_description":"bad or expired refresh token","code":"108","concur-correlationid":"c-42"}"#,
            None,
        );
        assert_eq!(d.problem, Problem::RefreshTokenInvalid);
        assert_eq!(d.reply.code, Some(108));
        assert_eq!(d.reply.correlation_id.as_deref(), Some("c-42"));
        assert_eq!(
            d.reply.description.as_deref(),
            Some("bad or expired refresh token")
        );
    }

    #[test]
    fn code_16_carries_the_geolocation_to_retry_at() {
        let d = err(
            400,
            r#"{"error":"invalid_request","code":16,"geolocation":"https://eu2.api.concursolutions.com"}"#,
            None,
        );
        assert_eq!(
            d.problem,
            Problem::WrongDataCenter {
                geolocation: Some("https://eu2.api.concursolutions.com".into())
            }
        );
    }

    #[test]
    fn failures_and_unreadable_answers_are_each_named() {
        assert_eq!(
            err(429, "", Some("30")).problem,
            Problem::RateLimited {
                retry_after_seconds: Some(30)
            }
        );
        assert_eq!(
            err(503, "<html>down</html>", None).problem,
            Problem::ConcurUnavailable
        );
        assert!(err(500, "oops", None).is_transient());
        let html = err(200, "  <!DOCTYPE html><html>", None);
        assert!(
            matches!(html.problem, Problem::UnexpectedAnswer { ref what } if what.contains("HTML"))
        );
        assert!(
            html.is_transient(),
            "a gateway's page says nothing of the credentials"
        );
        let redirect = err(302, "", None);
        assert!(
            matches!(redirect.problem, Problem::UnexpectedAnswer { ref what } if what.contains("redirect"))
        );
        let no_token = err(200, r#"{"token_type":"Bearer"}"#, None);
        assert!(matches!(no_token.problem, Problem::UnexpectedAnswer { .. }));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        #[test]
        fn arbitrary_bytes_never_panic_the_answer_parser(
            status in 100u16..600,
            body in proptest::collection::vec(proptest::num::u8::ANY, 0..512),
        ) {
            let raw = RawReply { status, correlation_id: None, retry_after: Some("x"), body: &body };
            let _ = read_token_answer(GrantKind::RequestToken, raw);
        }

        #[test]
        fn arbitrary_json_shapes_never_panic_the_answer_parser(
            status in proptest::sample::select(vec![200u16, 400, 401, 403]),
            expires in "[0-9a-z\"\\.\\-]{0,12}",
            token in "[ -~]{0,40}",
            geo in "[ -~]{0,40}",
        ) {
            let body = format!(
                r#"{{"access_token":{token:?},"expires_in":{expires},"refresh_expires_in":{expires:?},"geolocation":{geo:?},"id_token":{token:?},"code":{expires}}}"#
            );
            let raw = RawReply { status, correlation_id: None, retry_after: None, body: body.as_bytes() };
            let _ = read_token_answer(GrantKind::RefreshToken, raw);
        }
    }
}
