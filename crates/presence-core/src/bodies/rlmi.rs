//! `application/rlmi+xml` (RFC 4662 §5): the resource list meta-information document that
//! opens every NOTIFY of a list subscription, and the `multipart/related` body (RFC 2387) that
//! carries it with one part per resource.

use std::fmt::Write;

use super::xml::escape;

/// The media type.
pub const CONTENT_TYPE: &str = "application/rlmi+xml";

const NS: &str = "urn:ietf:params:xml:ns:rlmi";

/// One resource of a list document.
#[derive(Clone, Copy, Debug)]
pub struct Resource<'a> {
    /// Its URI.
    pub uri: &'a str,
    /// The id of its one instance (RFC 4662 §5.2: stable while the subscription lasts).
    pub instance: &'a str,
    /// The Content-ID of the part carrying its state in this NOTIFY (`None`: no part).
    pub cid: Option<&'a str>,
}

/// Writes a list document: `full` lists every resource, a partial one only those that changed.
pub fn write(uri: &str, name: Option<&str>, version: u32, full: bool, resources: &[Resource<'_>]) -> String {
    let mut out = String::with_capacity(160 + 120 * resources.len());
    out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?>"#);
    let _ = write!(out, r#"<list xmlns="{NS}" uri="{}" version="{version}" fullState="{full}">"#, escape(uri));
    if let Some(name) = name {
        let _ = write!(out, "<name>{}</name>", escape(name));
    }
    for r in resources {
        let _ =
            write!(out, r#"<resource uri="{}"><instance id="{}" state="active""#, escape(r.uri), escape(r.instance));
        if let Some(cid) = r.cid {
            let _ = write!(out, r#" cid="{}""#, escape(cid));
        }
        out.push_str("/></resource>");
    }
    out.push_str("</list>");
    out
}

/// One body part: its Content-ID, media type and text.
#[derive(Clone, Copy, Debug)]
pub struct Part<'a> {
    /// Content-ID, without angle brackets.
    pub cid: &'a str,
    /// The media type.
    pub content_type: &'a str,
    /// The text.
    pub text: &'a str,
}

/// A `multipart/related` body whose root (`start`) is the first part.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Related {
    /// `multipart/related;type="application/rlmi+xml";start="<cid>";boundary="…"`.
    pub content_type: String,
    /// The body.
    pub text: String,
}

/// Assembles `parts` (the list document first) into one `multipart/related` body (RFC 2387
/// §3, RFC 4662 §5.1), with a boundary that occurs in none of them (RFC 2046 §5.1.1).
pub fn related(parts: &[Part<'_>]) -> Related {
    let mut boundary = String::from("babble-rlmi-boundary");
    while parts.iter().any(|p| p.text.contains(&boundary)) {
        boundary.push('x');
    }
    let mut text = String::new();
    for p in parts {
        let _ = write!(
            text,
            "--{boundary}\r\nContent-Transfer-Encoding: binary\r\nContent-ID: <{}>\r\nContent-Type: {};charset=\"UTF-8\"\r\n\r\n{}\r\n",
            p.cid, p.content_type, p.text
        );
    }
    let _ = write!(text, "--{boundary}--\r\n");
    let start = parts.first().map_or("", |p| p.cid);
    let content_type = format!("multipart/related;type=\"{CONTENT_TYPE}\";start=\"<{start}>\";boundary=\"{boundary}\"");
    Related { content_type, text }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_document_and_its_parts() {
        let members = [
            Resource { uri: "sip:1001@pbx", instance: "1", cid: Some("c1@pbx") },
            Resource { uri: "sip:1002@pbx", instance: "2", cid: None },
        ];
        let doc = write("sip:sales@pbx", Some("Sales & co"), 3, true, &members);
        assert!(doc.contains(r#"<list xmlns="urn:ietf:params:xml:ns:rlmi" uri="sip:sales@pbx" version="3" fullState="true"><name>Sales &amp; co</name>"#), "{doc}");
        assert!(
            doc.contains(r#"<resource uri="sip:1001@pbx"><instance id="1" state="active" cid="c1@pbx"/></resource>"#)
        );
        let body = related(&[
            Part { cid: "root@pbx", content_type: CONTENT_TYPE, text: &doc },
            Part { cid: "c1@pbx", content_type: "application/pidf+xml", text: "<presence/>" },
        ]);
        assert_eq!(
            body.content_type,
            r#"multipart/related;type="application/rlmi+xml";start="<root@pbx>";boundary="babble-rlmi-boundary""#
        );
        assert_eq!(body.text.matches("--babble-rlmi-boundary\r\n").count(), 2);
        assert!(body.text.ends_with("--babble-rlmi-boundary--\r\n"));
        assert!(body.text.contains(
            "Content-ID: <c1@pbx>\r\nContent-Type: application/pidf+xml;charset=\"UTF-8\"\r\n\r\n<presence/>\r\n"
        ));
    }
}
