//! The one URL policy for what jagspec sends: every URL it is given or discovers, before
//! anything goes to it.

/// What a URL is for, which decides what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UrlUse {
    /// Fetched without credentials, or an identifier: metadata, an issuer, an audience.
    Metadata,
    /// Sent credentials or tokens: a token endpoint, the MCP URL, the admin API, a SIEM
    /// collector (CLI-15).
    Credentials {
        /// Plain http to a host other than loopback is allowed.
        allow_insecure_http: bool,
    },
}

impl UrlUse {
    /// Credentials, over https or to a loopback host only.
    pub(crate) const SECRET: Self = Self::Credentials {
        allow_insecure_http: false,
    };
}

/// Why a URL is not used. Each message starts with the URL, so that a caller can prefix
/// what it is ("the MCP URL ", "--idp-token-endpoint: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum UrlError {
    /// Not an absolute URL.
    #[error("`{url}` is not an absolute URL ({reason})")]
    NotAbsolute {
        /// The text given.
        url: String,
        /// The parser's complaint.
        reason: String,
    },
    /// Not http or https, or no host.
    #[error("`{url}` is not an http or https URL")]
    Scheme {
        /// The text given.
        url: String,
    },
    /// `user:password@`: reqwest would send it as Basic credentials to whoever answers.
    #[error(
        "`{url}` was given with userinfo (`user:password@`, removed here), which is never \
         sent; give the URL without it"
    )]
    Userinfo {
        /// The URL without its userinfo.
        url: String,
    },
    /// A fragment: request URLs and identifiers carry none (RFC 8414 §2, RFC 9728 §1.2).
    #[error("`{url}` has a fragment, which no request URL or identifier may have")]
    Fragment {
        /// The text given.
        url: String,
    },
    /// Plain http to a host other than loopback, for credentials.
    #[error(
        "`{url}` is plain http to a host other than loopback: credentials would cross the \
         network unencrypted (CLI-15); use https, or allow insecure http explicitly"
    )]
    InsecureHttp {
        /// The text given.
        url: String,
    },
}

/// The one check of every URL jagspec is given or discovers: absolute http(s) with a
/// host, no userinfo, no fragment; for credentials, https or a loopback host unless
/// allowed.
pub(crate) fn check_url(url: &str, usage: UrlUse) -> Result<url::Url, UrlError> {
    let parsed = url::Url::parse(url).map_err(|e| UrlError::NotAbsolute {
        url: url.to_owned(),
        reason: e.to_string(),
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        return Err(UrlError::Scheme {
            url: url.to_owned(),
        });
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        let mut shown = parsed;
        // Cannot fail: an http(s) URL with a host can have userinfo.
        let _ = shown.set_username("");
        let _ = shown.set_password(None);
        return Err(UrlError::Userinfo { url: shown.into() });
    }
    if parsed.fragment().is_some() {
        return Err(UrlError::Fragment {
            url: url.to_owned(),
        });
    }
    if usage
        == (UrlUse::Credentials {
            allow_insecure_http: false,
        })
        && parsed.scheme() == "http"
        && !is_loopback(&parsed)
    {
        return Err(UrlError::InsecureHttp {
            url: url.to_owned(),
        });
    }
    Ok(parsed)
}

/// 127.0.0.0/8, ::1 or `localhost`: where the mocks run, and traffic never leaves the
/// machine.
pub(crate) fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_with_userinfo_a_fragment_or_no_scheme_are_refused_and_userinfo_is_not_echoed() {
        let metadata = UrlUse::Metadata;
        assert_eq!(
            check_url("https://u:hunter2@h.example/mcp", metadata),
            Err(UrlError::Userinfo {
                url: "https://h.example/mcp".into()
            })
        );
        assert!(
            !UrlError::Userinfo {
                url: "https://h.example/mcp".into()
            }
            .to_string()
            .contains("hunter2")
        );
        assert_eq!(
            check_url("https://h.example/mcp#x", metadata),
            Err(UrlError::Fragment {
                url: "https://h.example/mcp#x".into()
            })
        );
        assert_eq!(
            check_url("ftp://h.example/", metadata),
            Err(UrlError::Scheme {
                url: "ftp://h.example/".into()
            })
        );
        assert_eq!(
            check_url("mcp.example", metadata),
            Err(UrlError::NotAbsolute {
                url: "mcp.example".into(),
                reason: "relative URL without a base".into()
            })
        );
    }

    #[test]
    fn credentials_need_https_or_a_loopback_host_unless_insecure_http_is_allowed() {
        let strict = UrlUse::Credentials {
            allow_insecure_http: false,
        };
        let lax = UrlUse::Credentials {
            allow_insecure_http: true,
        };
        for ok in [
            "https://as.example/token",
            "http://127.0.0.1:9/token",
            "http://127.8.9.10/token",
            "http://[::1]:9/token",
            "http://LocalHost:9/token",
        ] {
            assert!(check_url(ok, strict).is_ok(), "{ok}");
        }
        for insecure in [
            "http://as.example/token",
            "http://10.0.0.1/token",
            "http://[::2]/t",
        ] {
            assert_eq!(
                check_url(insecure, strict),
                Err(UrlError::InsecureHttp {
                    url: insecure.into()
                })
            );
            assert!(check_url(insecure, lax).is_ok(), "{insecure}");
            assert!(check_url(insecure, UrlUse::Metadata).is_ok(), "{insecure}");
        }
    }
}
