//! The HTTP client of every outbound sink (Alertmanager, webhooks), built one way from
//! [`HttpClientConfig`]: the system's certificate store and the bundled web roots, a company CA
//! on top, a client certificate for mutual TLS, and basic or bearer authentication sent with
//! every request (docs/alerting.md § TLS and authentication).

use super::StartError;
use crate::config::HttpClientConfig;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION};
use std::time::Duration;

pub fn build(
    sink: &str,
    timeout: Duration,
    config: &HttpClientConfig,
) -> Result<reqwest::blocking::Client, StartError> {
    let fail = |detail: String| StartError::Setup { sink: sink.to_owned(), detail };
    let read = |path: &std::path::Path, what: &str| {
        std::fs::read(path).map_err(|e| fail(format!("cannot read {what} {}: {e}", path.display())))
    };
    let mut builder = reqwest::blocking::Client::builder().timeout(timeout).use_rustls_tls();
    if let Some(path) = &config.ca_file {
        let certificates = reqwest::Certificate::from_pem_bundle(&read(path, "ca_file")?)
            .map_err(|e| fail(format!("ca_file {} is not PEM certificates: {e}", path.display())))?;
        if certificates.is_empty() {
            return Err(fail(format!("ca_file {} holds no certificate", path.display())));
        }
        for certificate in certificates {
            builder = builder.add_root_certificate(certificate);
        }
    }
    match (&config.client_cert, &config.client_key) {
        (Some(cert), Some(key)) => {
            let mut pem = read(cert, "client_cert")?;
            pem.push(b'\n');
            pem.extend(read(key, "client_key")?);
            let identity = reqwest::Identity::from_pem(&pem)
                .map_err(|e| fail(format!("client_cert/client_key are not a PEM certificate and key: {e}")))?;
            builder = builder.identity(identity);
        }
        (None, None) => {}
        _ => return Err(fail("client_cert and client_key go together".into())),
    }
    if let Some(value) = authorization(config).map_err(fail)? {
        builder = builder.default_headers(HeaderMap::from_iter([(AUTHORIZATION, value)]));
    }
    builder.build().map_err(|source| StartError::Client { sink: sink.to_owned(), source })
}

/// The `Authorization` header, its secret read from the environment now (a missing variable
/// stops the start, rather than every request failing later).
fn authorization(config: &HttpClientConfig) -> Result<Option<HeaderValue>, String> {
    let env = |name: &str| std::env::var(name).map_err(|_| format!("environment variable {name} is not set"));
    let value = match (&config.bearer_token_env, &config.basic_user, &config.basic_password_env) {
        (Some(_), Some(_), _) => return Err("give bearer_token_env or basic_user, not both".into()),
        (Some(var), None, None) => format!("Bearer {}", env(var)?),
        (None, Some(user), Some(var)) => {
            format!("Basic {}", crate::util::encoding::base64_encode(format!("{user}:{}", env(var)?).as_bytes()))
        }
        (None, Some(_), None) => return Err("basic_user needs basic_password_env".into()),
        (_, None, Some(_)) => return Err("basic_password_env needs basic_user".into()),
        (None, None, None) => return Ok(None),
    };
    let mut value =
        HeaderValue::from_str(&value).map_err(|_| "the credential is not a valid header value".to_string())?;
    value.set_sensitive(true);
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_come_from_the_environment_and_conflicts_are_refused() {
        std::env::set_var("FP_TEST_BEARER", "t0ken");
        std::env::set_var("FP_TEST_PASSWORD", "pa:ss");
        let bearer = HttpClientConfig { bearer_token_env: Some("FP_TEST_BEARER".into()), ..Default::default() };
        assert_eq!(authorization(&bearer).unwrap().unwrap(), "Bearer t0ken");
        let basic = HttpClientConfig {
            basic_user: Some("fp".into()),
            basic_password_env: Some("FP_TEST_PASSWORD".into()),
            ..Default::default()
        };
        // base64("fp:pa:ss")
        assert_eq!(authorization(&basic).unwrap().unwrap(), "Basic ZnA6cGE6c3M=");
        assert!(authorization(&basic).unwrap().unwrap().is_sensitive());
        let both = HttpClientConfig { bearer_token_env: Some("FP_TEST_BEARER".into()), ..basic.clone() };
        assert!(authorization(&both).is_err());
        let missing = HttpClientConfig { bearer_token_env: Some("FP_TEST_NOT_SET".into()), ..Default::default() };
        assert!(authorization(&missing).unwrap_err().contains("FP_TEST_NOT_SET"));
        assert_eq!(authorization(&HttpClientConfig::default()).unwrap(), None);
    }

    #[test]
    fn unreadable_or_mismatched_tls_files_stop_the_start() {
        let config = HttpClientConfig { ca_file: Some("/nonexistent/ca.pem".into()), ..Default::default() };
        let error = build("alertmanager", Duration::from_secs(1), &config).unwrap_err().to_string();
        assert!(error.contains("ca_file") && error.contains("/nonexistent/ca.pem"), "{error}");
        let half = HttpClientConfig { client_cert: Some("/x.pem".into()), ..Default::default() };
        assert!(build("w", Duration::from_secs(1), &half).unwrap_err().to_string().contains("go together"));
        assert!(build("w", Duration::from_secs(1), &HttpClientConfig::default()).is_ok());
    }
}
