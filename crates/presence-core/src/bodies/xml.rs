//! Hardened XML reading and minimal escaping for writing. Reading refuses entity
//! declarations and internal DTD subsets (no expansion attacks; a plain external DOCTYPE, as
//! XPIDF carries, is allowed), caps the node count, the nesting depth and the attributes per
//! element and in all. The attribute caps are checked by a linear scan before parsing,
//! because the parser looks for a duplicate of each attribute among the element's earlier
//! ones: an element with thousands of them would cost time in their square.

use std::borrow::Cow;

use roxmltree::{Document, Node, ParsingOptions};

use super::BodyError;

/// Most nodes a body may have.
const MAX_NODES: u32 = 4096;
/// Deepest element nesting a body may have.
const MAX_DEPTH: usize = 32;
/// Most attributes one element may have (the richest we read, dialog-info's `<dialog>`,
/// has six).
const MAX_ATTRIBUTES_PER_ELEMENT: usize = 64;
/// Most attributes a body may have in all.
const MAX_ATTRIBUTES: usize = 1024;

/// Parses `text` with the limits above.
pub(super) fn parse(text: &str) -> Result<Document<'_>, BodyError> {
    if text.contains("<!ENTITY") {
        return Err(BodyError::Dtd);
    }
    if let Some(start) = text.find("<!DOCTYPE") {
        let end = text[start..].find('>').map_or(text.len(), |e| start + e);
        if text[start..end].contains('[') {
            return Err(BodyError::Dtd);
        }
    }
    if !attributes_within_limits(text) {
        return Err(BodyError::TooComplex);
    }
    let options = ParsingOptions { allow_dtd: true, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let doc = Document::parse_with_options(text, options).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => BodyError::TooComplex,
        other => BodyError::Xml(other.to_string()),
    })?;
    if doc.descendants().any(|n| n.is_element() && n.ancestors().nth(MAX_DEPTH).is_some()) {
        return Err(BodyError::TooComplex);
    }
    Ok(doc)
}

/// Whether no start tag of `text` has more than [`MAX_ATTRIBUTES_PER_ELEMENT`] attributes
/// and all of them together no more than [`MAX_ATTRIBUTES`], counting the `=` signs outside
/// quotes in each tag (XML 1.0 §3.1) and skipping comments, CDATA sections, processing
/// instructions, declarations and end tags. One pass: each byte is looked at once.
fn attributes_within_limits(text: &str) -> bool {
    let mut rest = text;
    let mut total = 0;
    while let Some(open) = rest.find('<') {
        rest = &rest[open..];
        let skip_to = [("<!--", "-->"), ("<![CDATA[", "]]>"), ("<?", "?>"), ("<!", ">"), ("</", ">")]
            .into_iter()
            .find(|(start, _)| rest.starts_with(start));
        if let Some((start, end)) = skip_to {
            let Some(at) = rest[start.len()..].find(end) else { return true };
            rest = &rest[start.len() + at + end.len()..];
            continue;
        }
        let mut quote = None;
        let mut in_tag = 0;
        let mut tag_len = rest.len();
        for (i, byte) in rest.bytes().enumerate().skip(1) {
            match (quote, byte) {
                (Some(q), b) if b == q => quote = None,
                (Some(_), _) => {}
                (None, b'"' | b'\'') => quote = Some(byte),
                (None, b'=') => in_tag += 1,
                (None, b'>') => {
                    tag_len = i + 1;
                    break;
                }
                (None, _) => {}
            }
        }
        total += in_tag;
        if in_tag > MAX_ATTRIBUTES_PER_ELEMENT || total > MAX_ATTRIBUTES {
            return false;
        }
        rest = &rest[tag_len..];
    }
    true
}

/// The first child element of `node` with namespace `ns` and local name `name`.
pub(super) fn child<'a, 'i>(node: Node<'a, 'i>, ns: Option<&str>, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == ns)
}

/// Every child element of `node` with namespace `ns` and local name `name`.
pub(super) fn children<'a, 'i>(
    node: Node<'a, 'i>,
    ns: Option<&'a str>,
    name: &'a str,
) -> impl Iterator<Item = Node<'a, 'i>> + 'a {
    node.children().filter(move |c| c.is_element() && c.tag_name().name() == name && c.tag_name().namespace() == ns)
}

/// The trimmed text of an element, at most [`super::MAX_TEXT_BYTES`] of it; `None` when empty.
pub(super) fn text(node: Node<'_, '_>) -> Option<String> {
    let t: String = node.children().filter_map(|c| c.text()).collect();
    let t = super::capped(t.trim());
    (!t.is_empty()).then(|| t.to_owned())
}

/// Escapes text and attribute values (`&`, `<`, `>`, `"`, `'`).
pub(super) fn escape(s: &str) -> Cow<'_, str> {
    if !s.contains(['&', '<', '>', '"', '\'']) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_entities_internal_subsets_and_deep_trees() {
        let laughs = r#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><lolz>&lol2;</lolz>"#;
        assert_eq!(parse(laughs).unwrap_err(), BodyError::Dtd);
        assert_eq!(parse(r#"<!DOCTYPE a [<!ELEMENT a ANY>]><a/>"#).unwrap_err(), BodyError::Dtd);
        let deep = "<a>".repeat(40) + &"</a>".repeat(40);
        assert_eq!(parse(&deep).unwrap_err(), BodyError::TooComplex);
        let wide = format!("<a>{}</a>", "<b/>".repeat(5000));
        assert_eq!(parse(&wide).unwrap_err(), BodyError::TooComplex);
        assert!(matches!(parse("<a><b></a>").unwrap_err(), BodyError::Xml(_)));
    }

    #[test]
    fn refuses_too_many_attributes_in_linear_time() {
        let attributes = |n: usize| (0..n).map(|i| format!(r#" a{i}="v""#)).collect::<String>();
        let bomb = format!("<presence{}/>", attributes(9000));
        let started = std::time::Instant::now();
        assert_eq!(parse(&bomb).unwrap_err(), BodyError::TooComplex);
        eprintln!("9000 attributes refused in {:?}", started.elapsed());
        assert_eq!(parse(&format!("<a{}/>", attributes(65))).unwrap_err(), BodyError::TooComplex);
        let spread = format!("<a>{}</a>", format!("<b{}/>", attributes(60)).repeat(20));
        assert_eq!(parse(&spread).unwrap_err(), BodyError::TooComplex, "1200 in all");
        // What looks like attributes inside values, comments and CDATA does not count.
        let quoted = format!(
            r#"<a b="{}" c='x=y>'><!-- {} --><![CDATA[{}]]></a>"#,
            "=".repeat(500),
            attributes(100),
            attributes(100)
        );
        assert!(parse(&quoted).is_ok());
        assert!(parse(&format!("<a{}/>", attributes(64))).is_ok());
    }

    #[test]
    fn allows_an_external_doctype() {
        let doc = parse(
            r#"<?xml version="1.0"?><!DOCTYPE presence PUBLIC "-//IETF//DTD RFCxxxx XPIDF 1.0//EN" "xpidf.dtd"><presence/>"#,
        );
        assert_eq!(doc.unwrap().root_element().tag_name().name(), "presence");
    }

    #[test]
    fn escapes_markup() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
        assert!(matches!(escape("plain"), Cow::Borrowed(_)));
    }
}
