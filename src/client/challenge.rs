//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), parsed by the grammar rather than by
//! searching for substrings: a `resource_metadata` inside another parameter's quoted value,
//! or in another scheme's challenge, must not be taken for the Bearer one.

/// One challenge: `auth-scheme [ 1*SP ( token68 / #auth-param ) ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme as sent; compare it case-insensitively (RFC 9110 §11.1).
    pub(crate) scheme: String,
    /// The token68, for a scheme that carries one instead of parameters.
    pub(crate) token68: Option<String>,
    /// Parameters in order, names lower-cased (they are case-insensitive, RFC 9110 §11.2),
    /// quoted-string values unescaped.
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// The first value of parameter `name` (lower-case).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The first `Bearer` challenge among every `WWW-Authenticate` value.
pub(crate) fn bearer<'a>(values: impl IntoIterator<Item = &'a str>) -> Option<Challenge> {
    values
        .into_iter()
        .flat_map(parse)
        .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
}

/// Every challenge of one header value. Malformed input ends the parse; what was read so
/// far is kept, as lenient clients do.
pub(crate) fn parse(value: &str) -> Vec<Challenge> {
    let mut p = Parser {
        chars: value.chars().collect(),
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        p.skip(|c| c == ',' || is_ws(c));
        let scheme = p.token();
        if scheme.is_empty() {
            break;
        }
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        if !p.peek().is_some_and(is_ws) {
            // `Bearer` alone, or `Bearer,`: no token68 and no parameters.
            challenges.push(challenge);
            continue;
        }
        p.skip(is_ws);
        if let Some(token68) = p.token68() {
            challenge.token68 = Some(token68);
            challenges.push(challenge);
            continue;
        }
        // Parameters, comma-separated, until the next item turns out to be a new scheme.
        loop {
            let start = p.pos;
            p.skip(|c| c == ',' || is_ws(c));
            let name = p.token();
            p.skip(is_ws);
            if name.is_empty() || p.peek() != Some('=') {
                // A new challenge's scheme (or the end): hand it to the outer loop.
                p.pos = start;
                break;
            }
            p.pos += 1;
            p.skip(is_ws);
            let value = if p.peek() == Some('"') {
                p.quoted()
            } else {
                let token = p.token();
                if token.is_empty() {
                    // `name=` without a value: stop rather than guess.
                    challenges.push(challenge);
                    return challenges;
                }
                token
            };
            challenge.params.push((name.to_ascii_lowercase(), value));
            p.skip(is_ws);
            if !matches!(p.peek(), Some(',') | None) {
                // Garbage after a parameter: stop rather than guess.
                challenges.push(challenge);
                return challenges;
            }
        }
        challenges.push(challenge);
    }
    challenges
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip(&mut self, what: impl Fn(char) -> bool) {
        while self.peek().is_some_and(&what) {
            self.pos += 1;
        }
    }

    /// RFC 9110 §5.6.2 `token` (1*tchar); empty when none.
    fn token(&mut self) -> String {
        let start = self.pos;
        self.skip(is_tchar);
        self.chars[start..self.pos].iter().collect()
    }

    /// RFC 9110 §11.2 `token68`, when what follows the scheme is one: it must end the
    /// challenge (a comma, or the end, follows). Otherwise nothing is consumed: `realm=x`
    /// and `realm=""` begin auth-params.
    fn token68(&mut self) -> Option<String> {
        let start = self.pos;
        self.skip(is_token68_char);
        if self.pos == start {
            return None;
        }
        self.skip(|c| c == '=');
        let end = self.pos;
        self.skip(is_ws);
        if matches!(self.peek(), Some(',') | None) {
            Some(self.chars[start..end].iter().collect())
        } else {
            self.pos = start;
            None
        }
    }

    /// RFC 9110 §5.6.4 `quoted-string`, at the opening quote; an unterminated one runs to
    /// the end.
    fn quoted(&mut self) -> String {
        self.pos += 1;
        let mut out = String::new();
        while let Some(c) = self.peek() {
            self.pos += 1;
            match c {
                '"' => break,
                '\\' => {
                    if let Some(escaped) = self.peek() {
                        out.push(escaped);
                        self.pos += 1;
                    }
                }
                other => out.push(other),
            }
        }
        out
    }
}

/// Whether `value` is an RFC 9110 §11.2 `token68`, which is RFC 6750 §2.1's `b64token`:
/// letters, digits, `-._~+/`, then `=`s.
pub(crate) fn is_token68(value: &str) -> bool {
    let body = value.trim_end_matches('=');
    !body.is_empty() && body.chars().all(is_token68_char)
}

fn is_token68_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~+/".contains(c)
}

fn is_ws(c: char) -> bool {
    c == ' ' || c == '\t'
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(c: &Challenge) -> Vec<(&str, &str)> {
        c.params
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn quoted_values_may_hold_commas_escapes_and_equals_signs() {
        let c = parse(r#"Bearer realm="a, b", error_description="say \"hi\" = x", scope=read"#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].scheme, "Bearer");
        assert_eq!(
            params(&c[0]),
            [
                ("realm", "a, b"),
                ("error_description", "say \"hi\" = x"),
                ("scope", "read"),
            ]
        );
    }

    #[test]
    fn several_challenges_in_one_value_are_told_apart() {
        let c = parse(
            r#"Basic realm="x", bearer RESOURCE_METADATA="https://m/.well-known/oauth-protected-resource" , error="invalid_token""#,
        );
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].scheme, "Basic");
        assert_eq!(params(&c[0]), [("realm", "x")]);
        assert_eq!(c[1].scheme, "bearer");
        assert_eq!(
            c[1].param("resource_metadata"),
            Some("https://m/.well-known/oauth-protected-resource")
        );
        assert_eq!(c[1].param("error"), Some("invalid_token"));
    }

    #[test]
    fn the_bearer_challenge_is_found_case_insensitively_among_header_values() {
        let found = bearer([
            "Basic dXNlcjpwYXNz==",
            r#"BEARER resource_metadata="https://m/prm""#,
        ])
        .unwrap();
        assert_eq!(found.param("resource_metadata"), Some("https://m/prm"));
        // Inside another parameter's quoted value it is not a parameter.
        let hidden = bearer([r#"Bearer realm="resource_metadata=https://evil""#]).unwrap();
        assert_eq!(hidden.param("resource_metadata"), None);
        assert_eq!(bearer(["Basic realm=\"x\""]), None);
    }

    #[test]
    fn a_bare_scheme_has_no_parameters() {
        let c = parse("Bearer");
        assert_eq!(
            c,
            [Challenge {
                scheme: "Bearer".into(),
                token68: None,
                params: vec![]
            }]
        );
    }

    #[test]
    fn a_token68_with_any_of_its_characters_is_skipped_to_find_the_bearer_challenge() {
        let c = parse(r#"Basic abc/def+g~h.i_j-k=, Bearer resource_metadata="https://m/prm""#);
        assert_eq!(c.len(), 2);
        assert_eq!(c[0].token68.as_deref(), Some("abc/def+g~h.i_j-k="));
        assert!(c[0].params.is_empty());
        assert_eq!(c[1].param("resource_metadata"), Some("https://m/prm"));
        let found = bearer([r#"Basic abc/def=, Bearer resource_metadata="https://m/prm""#]);
        assert_eq!(
            found.and_then(|b| b.param("resource_metadata").map(str::to_owned)),
            Some("https://m/prm".to_owned())
        );
        assert_eq!(
            parse("Basic dXNlcg==")[0].token68.as_deref(),
            Some("dXNlcg==")
        );
    }

    #[test]
    fn an_empty_quoted_first_parameter_is_an_auth_param_not_a_token68() {
        let c = parse(r#"Bearer realm="", resource_metadata="https://m/prm""#);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].token68, None);
        assert_eq!(
            params(&c[0]),
            [("realm", ""), ("resource_metadata", "https://m/prm")]
        );
    }

    #[test]
    fn b64token_syntax_is_letters_digits_six_marks_then_equals_signs() {
        assert!(is_token68("eyJ.abc-_~+/=="));
        assert!(!is_token68(""));
        assert!(!is_token68("=="));
        assert!(!is_token68("a=b"));
        assert!(!is_token68("a b"));
        assert!(!is_token68("a\r\nX-Injected: 1"));
    }
}
