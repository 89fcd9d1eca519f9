//! `WWW-Authenticate` challenges (RFC 9110 §11.6.1), parsed by the grammar rather than by
//! searching for substrings: a `resource_metadata` inside another parameter's quoted value,
//! or in another scheme's challenge, must not be taken for the Bearer one.

/// One challenge: `auth-scheme [ token68 / #auth-param ]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Challenge {
    /// The scheme as sent; compare it case-insensitively (RFC 9110 §11.1).
    pub(crate) scheme: String,
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
            params: Vec::new(),
        };
        p.skip(is_ws);
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
                p.token()
            };
            if value.is_empty() && challenge.params.is_empty() {
                // `Basic dXNlcg==`: a token68, not a parameter; not needed here.
                p.skip(|c| c == '=');
            } else {
                challenge.params.push((name.to_ascii_lowercase(), value));
            }
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
                params: vec![]
            }]
        );
    }
}
