//! The rule for the URL of a remote system RAVIS calls (the identity provider's key set,
//! the e-health system's FHIR API and its token endpoint): https, or plain http only to
//! loopback (test servers on this machine). Checked once, where the client is built.

/// Why a URL breaks the rule; the text is the end of the setting's message.
#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    /// It does not parse.
    #[error("not a URL: {0}")]
    NotAUrl(#[source] http::uri::InvalidUri),
    /// It names no host.
    #[error("has no host")]
    NoHost,
    /// Neither https nor http to loopback.
    #[error("must be an https URL (http only to loopback)")]
    NotHttps,
}

/// Parses `url` and checks the rule; the error says what is wrong, for the setting's message.
pub fn https_or_loopback(url: &str) -> Result<http::Uri, UrlError> {
    let uri: http::Uri = url.parse().map_err(UrlError::NotAUrl)?;
    if uri.host().is_none() {
        return Err(UrlError::NoHost);
    }
    let loopback = matches!(
        uri.host(),
        Some("127.0.0.1" | "localhost" | "[::1]" | "::1")
    );
    match uri.scheme_str() {
        Some("https") => Ok(uri),
        Some("http") if loopback => Ok(uri),
        _ => Err(UrlError::NotHttps),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_anywhere_http_only_to_loopback() {
        assert!(https_or_loopback("https://fhir.example.lv/fhir").is_ok());
        assert!(https_or_loopback("http://127.0.0.1:8080/fhir").is_ok());
        assert!(https_or_loopback("http://localhost/x").is_ok());
        for bad in [
            "http://fhir.example.lv/fhir",
            "ftp://127.0.0.1/",
            "/fhir",
            "not a url",
        ] {
            assert!(https_or_loopback(bad).is_err(), "{bad}");
        }
    }
}
