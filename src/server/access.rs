//! Access control: bearer tokens with scopes (docs/http-api.md § Access control).
//!
//! Tokens are stored as SHA-256 digests, never in clear, and a presented token is hashed and
//! compared with every stored digest in constant time, so neither the file nor the timing of
//! a refusal tells anything about a valid token. No tokens configured: every endpoint is open
//! (the demo, loopback development); `feedpulse run` refuses that on a non-loopback address
//! unless `--insecure` says it is meant.

use super::ApiError;
use axum::extract::{Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;

/// What a token may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// `POST /v1/events`.
    Ingest,
    /// Alerts, clusters, the dashboard and `/metrics`.
    Read,
    /// Relabelling messages and reloading the configuration.
    Admin,
}

impl Scope {
    fn parse(word: &str) -> Option<Scope> {
        match word {
            "ingest" => Some(Scope::Ingest),
            "read" => Some(Scope::Read),
            "admin" => Some(Scope::Admin),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Scope::Ingest => "ingest",
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }

    /// The scope a request needs; `None` for the health checks and the dashboard's static
    /// page, script and style (no data: that comes over its stream, which needs `read`).
    pub fn needed(method: &Method, path: &str) -> Option<Scope> {
        match (method, path) {
            (_, "/healthz" | "/readyz" | "/" | "/dashboard.js" | "/dashboard.css") => None,
            (&Method::POST, "/v1/events") => Some(Scope::Ingest),
            (&Method::POST, "/v1/reload") => Some(Scope::Admin),
            (&Method::POST, p) if p.starts_with("/v1/feedback/") => Some(Scope::Admin),
            _ => Some(Scope::Read),
        }
    }
}

#[derive(Debug)]
struct Token {
    name: String,
    scopes: Vec<Scope>,
    digest: [u8; 32],
}

/// The configured tokens; none: open.
#[derive(Debug, Default)]
pub struct Access {
    tokens: Vec<Token>,
}

/// The hex SHA-256 of a token, as the tokens file stores it.
pub fn digest_hex(token: &str) -> String {
    crate::util::encoding::sha256_hex(token.as_bytes())
}

fn digest(token: &str) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(ring::digest::digest(&ring::digest::SHA256, token.as_bytes()).as_ref());
    out
}

/// Equal without an early exit: the time taken does not depend on where they differ.
fn same(a: &[u8; 32], b: &[u8; 32]) -> bool {
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Why a request was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Denied {
    /// No token, or one that matches none: 401.
    Unauthenticated(&'static str),
    /// A valid token without the scope: 403.
    Forbidden { token: String, needed: Scope },
}

impl Access {
    /// Tokens from lines `NAME SCOPES sha256:HEX` (scopes comma-separated: ingest, read, admin;
    /// `#` starts a comment; `;` also ends a line, for an environment variable). Every error at
    /// once, each with `origin:line`.
    pub fn parse(text: &str, origin: &str) -> Result<Access, Vec<String>> {
        let (mut tokens, mut errors) = (Vec::new(), Vec::new());
        for (n, line) in text.split(['\n', ';']).enumerate() {
            let line = line.split('#').next().unwrap_or("").trim();
            if line.is_empty() {
                continue;
            }
            let at = format!("{origin}:{}", n + 1);
            let parts: Vec<&str> = line.split_whitespace().collect();
            let [name, scopes, hash] = parts[..] else {
                errors.push(format!("{at}: expected `NAME SCOPES sha256:HEX`, got `{line}`"));
                continue;
            };
            let mut parsed = Vec::new();
            for word in scopes.split(',') {
                match Scope::parse(word) {
                    Some(scope) => parsed.push(scope),
                    None => errors.push(format!("{at}: unknown scope `{word}` (ingest, read, admin)")),
                }
            }
            match hash.strip_prefix("sha256:").and_then(from_hex) {
                Some(digest) => tokens.push(Token { name: name.to_owned(), scopes: parsed, digest }),
                None => errors.push(format!(
                    "{at}: `{hash}` is not `sha256:` and 64 hex digits (store the digest, not the token: \
                     `feedpulse token --name NAME --scopes SCOPES`)"
                )),
            }
        }
        if listed_twice(&tokens) {
            errors.push(format!("{origin}: the same token is listed twice"));
        }
        if errors.is_empty() {
            Ok(Access { tokens })
        } else {
            Err(errors)
        }
    }

    /// From a file and the `FEEDPULSE_TOKENS` variable together; neither: open.
    pub fn load(file: Option<&std::path::Path>, env: Option<&str>) -> anyhow::Result<Access> {
        let mut errors = Vec::new();
        let mut tokens = Vec::new();
        if let Some(path) = file {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("cannot read the tokens file {}: {e}", path.display()))?;
            match Access::parse(&text, &path.display().to_string()) {
                Ok(a) => tokens.extend(a.tokens),
                Err(e) => errors.extend(e),
            }
        }
        if let Some(env) = env {
            match Access::parse(env, "FEEDPULSE_TOKENS") {
                Ok(a) => {
                    let from_file = tokens.len();
                    tokens.extend(a.tokens);
                    // Each source is checked alone above; one token in both is ambiguous too
                    // (which scopes hold?).
                    if from_file > 0 && listed_twice(&tokens) {
                        errors.push("the same token is in the tokens file and in FEEDPULSE_TOKENS".into());
                    }
                }
                Err(e) => errors.extend(e),
            }
        }
        if !errors.is_empty() {
            anyhow::bail!("invalid access tokens:\n  {}", errors.join("\n  "));
        }
        Ok(Access { tokens })
    }

    pub fn is_open(&self) -> bool {
        self.tokens.is_empty()
    }

    /// The token's name when `presented` may do what `needed` names.
    pub fn check(&self, presented: Option<&str>, needed: Scope) -> Result<&str, Denied> {
        let Some(presented) = presented else {
            return Err(Denied::Unauthenticated("this endpoint needs `Authorization: Bearer TOKEN`"));
        };
        let digest = digest(presented);
        // Every stored digest is compared, matched or not.
        let mut found = None;
        for token in &self.tokens {
            if same(&token.digest, &digest) {
                found = Some(token);
            }
        }
        let token = found.ok_or(Denied::Unauthenticated("the token is not valid"))?;
        if token.scopes.contains(&needed) {
            Ok(&token.name)
        } else {
            Err(Denied::Forbidden { token: token.name.clone(), needed })
        }
    }
}

/// The bearer token of a request: the `Authorization` header, or for a GET the
/// `access_token` query parameter (EventSource and a browser's address bar cannot set headers).
fn presented(request: &Request) -> Option<String> {
    if let Some(value) = request.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        // The scheme is case-insensitive (RFC 9110 § 11.1).
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim().to_owned());
    }
    if request.method() != Method::GET {
        return None;
    }
    let query = request.uri().query()?;
    form_urlencoded::parse(query.as_bytes()).find(|(key, _)| key == "access_token").map(|(_, token)| token.into_owned())
}

/// The middleware: lets a request through when its token has the scope its route needs.
pub async fn guard(State(access): State<Arc<Access>>, request: Request, next: Next) -> Response {
    if access.is_open() {
        return next.run(request).await;
    }
    let Some(needed) = Scope::needed(request.method(), request.uri().path()) else {
        return next.run(request).await;
    };
    match access.check(presented(&request).as_deref(), needed) {
        Ok(name) => {
            if needed == Scope::Admin {
                tracing::info!(token = name, method = %request.method(), path = request.uri().path(), "admin action");
            }
            next.run(request).await
        }
        Err(Denied::Unauthenticated(why)) => {
            let mut response = ApiError::new(StatusCode::UNAUTHORIZED, why).into_response();
            response.headers_mut().insert(header::WWW_AUTHENTICATE, header::HeaderValue::from_static("Bearer"));
            response
        }
        Err(Denied::Forbidden { token, needed }) => ApiError::new(
            StatusCode::FORBIDDEN,
            format!("token `{token}` lacks the `{}` scope this endpoint needs", needed.name()),
        )
        .into_response(),
    }
}

/// A new random token (32 bytes, hex) and its line for the tokens file.
pub fn new_token(name: &str, scopes: &str) -> anyhow::Result<(String, String)> {
    use ring::rand::SecureRandom;
    if name.is_empty() || name.contains(char::is_whitespace) {
        anyhow::bail!("--name must be one word");
    }
    if let Some(bad) = scopes.split(',').find(|s| Scope::parse(s).is_none()) {
        anyhow::bail!("unknown scope `{bad}` (ingest, read, admin)");
    }
    let mut bytes = [0u8; 32];
    ring::rand::SystemRandom::new().fill(&mut bytes).map_err(|_| anyhow::anyhow!("no system randomness"))?;
    let token = crate::util::encoding::hex(&bytes);
    let line = format!("{name} {scopes} sha256:{}", digest_hex(&token));
    Ok((token, line))
}

/// Whether some token's digest appears twice.
fn listed_twice(tokens: &[Token]) -> bool {
    tokens.iter().enumerate().any(|(i, t)| tokens[..i].iter().any(|u| same(&u.digest, &t.digest)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_checked_by_digest_and_scope() {
        let file = format!(
            "# who  scopes  digest\nbot ingest sha256:{}\ngrafana read,admin sha256:{} # ops\n",
            digest_hex("s3cret-bot"),
            digest_hex("s3cret-ops")
        );
        let access = Access::parse(&file, "tokens").unwrap();
        assert!(!access.is_open());
        assert_eq!(access.check(Some("s3cret-bot"), Scope::Ingest), Ok("bot"));
        assert_eq!(access.check(Some("s3cret-ops"), Scope::Admin), Ok("grafana"));
        assert_eq!(
            access.check(Some("s3cret-bot"), Scope::Read),
            Err(Denied::Forbidden { token: "bot".into(), needed: Scope::Read })
        );
        assert!(matches!(access.check(Some("guess"), Scope::Read), Err(Denied::Unauthenticated(_))));
        assert!(matches!(access.check(None, Scope::Read), Err(Denied::Unauthenticated(_))));
        assert!(!file.contains("s3cret"), "the file holds digests only");
    }

    #[test]
    fn every_error_of_a_tokens_file_is_reported_with_its_line() {
        let text = format!("a read\nb write sha256:{}\nc read plaintext\n", digest_hex("x"));
        let errors = Access::parse(&text, "t").unwrap_err();
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(errors[0].starts_with("t:1:") && errors[1].contains("unknown scope `write`"), "{errors:?}");
        assert!(errors[2].starts_with("t:3:") && errors[2].contains("sha256:"), "{errors:?}");
        let twice = format!("a read sha256:{0};b ingest sha256:{0}", digest_hex("same"));
        assert!(Access::parse(&twice, "env").unwrap_err()[0].contains("twice"));
        // One token in the file and in the variable, with different scopes: refused.
        let dir = std::env::temp_dir().join(format!("fp-tokens-{}", std::process::id()));
        std::fs::write(&dir, format!("a read sha256:{}\n", digest_hex("same"))).unwrap();
        let env = format!("b admin sha256:{}", digest_hex("same"));
        let both = Access::load(Some(&dir), Some(&env)).unwrap_err().to_string();
        assert!(both.contains("in the tokens file and in FEEDPULSE_TOKENS"), "{both}");
        let other = format!("b admin sha256:{}", digest_hex("other"));
        assert!(Access::load(Some(&dir), Some(&other)).is_ok());
        std::fs::remove_file(&dir).unwrap();
    }

    #[test]
    fn routes_need_their_scopes_and_health_checks_none() {
        assert_eq!(Scope::needed(&Method::POST, "/v1/events"), Some(Scope::Ingest));
        assert_eq!(Scope::needed(&Method::POST, "/v1/reload"), Some(Scope::Admin));
        assert_eq!(Scope::needed(&Method::POST, "/v1/feedback/m1/label"), Some(Scope::Admin));
        assert_eq!(Scope::needed(&Method::GET, "/v1/alerts/stream"), Some(Scope::Read));
        assert_eq!(Scope::needed(&Method::GET, "/metrics"), Some(Scope::Read));
        assert_eq!(Scope::needed(&Method::GET, "/v1/dashboard/stream"), Some(Scope::Read));
        assert_eq!(Scope::needed(&Method::GET, "/"), None, "the page is static; its stream needs read");
        assert_eq!(Scope::needed(&Method::GET, "/healthz"), None);
        assert_eq!(Scope::needed(&Method::GET, "/readyz"), None);
    }

    #[test]
    fn the_token_comes_from_the_header_any_case_or_a_get_query() {
        let request = |method: Method, uri: &str, authorization: Option<&str>| {
            let mut builder = axum::http::Request::builder().method(method).uri(uri);
            if let Some(value) = authorization {
                builder = builder.header(header::AUTHORIZATION, value);
            }
            builder.body(axum::body::Body::empty()).unwrap()
        };
        assert_eq!(presented(&request(Method::POST, "/v1/events", Some("Bearer abc"))).as_deref(), Some("abc"));
        assert_eq!(presented(&request(Method::POST, "/v1/events", Some("bearer  abc "))).as_deref(), Some("abc"));
        assert_eq!(presented(&request(Method::POST, "/v1/events", Some("Basic abc"))), None);
        assert_eq!(
            presented(&request(Method::GET, "/v1/alerts?x=1&access_token=a%2Bb+c", None)).as_deref(),
            Some("a+b c")
        );
        assert_eq!(presented(&request(Method::POST, "/v1/reload?access_token=abc", None)), None, "GET only");
    }

    #[test]
    fn new_tokens_are_random_and_their_lines_parse() {
        let (token, line) = new_token("ci", "ingest,read").unwrap();
        let (other, _) = new_token("ci", "ingest").unwrap();
        assert_ne!(token, other);
        let access = Access::parse(&line, "new").unwrap();
        assert_eq!(access.check(Some(&token), Scope::Read), Ok("ci"));
        assert!(new_token("ci", "root").is_err());
    }
}
