//! Lexical helpers shared by the header and URI parsers: RFC 3261 §25.1 tokens, quoted
//! strings, linear white space, and splitting comma-separated lists without breaking
//! quoted strings or angle-bracketed URIs.

/// Whether `b` may appear in an RFC 3261 §25.1 `token`.
pub(crate) fn is_token_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Whether `s` is a non-empty RFC 3261 `token`.
pub(crate) fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_token_char)
}

/// Splits a header value at commas outside quoted strings and `<...>`.
///
/// Elements are trimmed. An empty value yields no elements; an empty element between two
/// commas is an error (RFC 3261 §7.3.1 lists have no empty members).
pub(crate) fn split_list(value: &str) -> Result<Vec<&str>, &'static str> {
    let value = value.trim();
    if value.is_empty() {
        return Ok(Vec::new());
    }
    let mut out = Vec::new();
    let mut start = 0;
    let mut in_quotes = false;
    let mut in_angle = false;
    let mut escaped = false;
    for (i, b) in value.bytes().enumerate() {
        if in_quotes {
            match (escaped, b) {
                (true, _) => escaped = false,
                (false, b'\\') => escaped = true,
                (false, b'"') => in_quotes = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_quotes = true,
            b'<' => in_angle = true,
            b'>' => in_angle = false,
            b',' if !in_angle => {
                out.push(value[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    if in_quotes {
        return Err("unterminated quoted string");
    }
    out.push(value[start..].trim());
    if out.iter().any(|e| e.is_empty()) {
        return Err("empty list element");
    }
    Ok(out)
}

/// Reads a quoted string at the start of `s` (which must begin with `"`), returning the
/// unescaped content and the rest of the input after the closing quote.
pub(crate) fn take_quoted(s: &str) -> Result<(String, &str), &'static str> {
    let mut chars = s.char_indices();
    if !matches!(chars.next(), Some((_, '"'))) {
        return Err("expected a quoted string");
    }
    let mut out = String::new();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some((_, escaped)) => out.push(escaped),
                None => break,
            },
            '"' => return Ok((out, &s[i + 1..])),
            _ => out.push(c),
        }
    }
    Err("unterminated quoted string")
}

/// Writes `s` as an RFC 3261 quoted string, escaping `"` and `\`.
pub(crate) fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        if c == '"' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('"');
    out
}

/// Parses a decimal number with no sign or spaces, refusing overflow.
pub(crate) fn parse_u32(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_respects_quotes_and_angles() {
        let v = split_list(r#""Doe, John" <sip:a@b;x=1,2>, <sip:c@d> ,sip:e@f"#).unwrap();
        assert_eq!(v, vec![r#""Doe, John" <sip:a@b;x=1,2>"#, "<sip:c@d>", "sip:e@f"]);
        assert_eq!(split_list("  ").unwrap(), Vec::<&str>::new());
        assert!(split_list("a,,b").is_err());
        assert!(split_list("\"open").is_err());
    }

    #[test]
    fn quoted_strings_round_trip() {
        let (s, rest) = take_quoted(r#""a \"b\" \\c" <x>"#).unwrap();
        assert_eq!(s, r#"a "b" \c"#);
        assert_eq!(rest, " <x>");
        assert_eq!(take_quoted(&quote(&s)).unwrap().0, s);
        assert!(take_quoted("\"abc").is_err());
    }

    #[test]
    fn numbers_refuse_signs_and_overflow() {
        assert_eq!(parse_u32("3600"), Some(3600));
        assert_eq!(parse_u32("+1"), None);
        assert_eq!(parse_u32("99999999999"), None);
        assert_eq!(parse_u32(""), None);
    }
}
