//! Rewriting one generated section of a markdown file, between `<!-- NAME:begin -->` and
//! `<!-- NAME:end -->`, leaving everything else as it was.

/// The section's markers are malformed (an end without a begin, or the other way round).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("markers for section `{section}`: {problem}")]
pub struct MarkerError {
    pub section: String,
    pub problem: &'static str,
}

/// Replaces the text between the section's markers with `body`; appends the section (markers
/// included) at the end when the document has none.
pub fn replace_section(document: &str, section: &str, body: &str) -> Result<String, MarkerError> {
    let begin = format!("<!-- {section}:begin -->");
    let end = format!("<!-- {section}:end -->");
    let err = |problem| MarkerError {
        section: section.to_owned(),
        problem,
    };
    let body = body.trim_end_matches('\n');
    match (document.find(&begin), document.find(&end)) {
        (None, None) => {
            let mut out = document.trim_end_matches('\n').to_owned();
            if !out.is_empty() {
                out.push_str("\n\n");
            }
            out.push_str(&format!("{begin}\n{body}\n{end}\n"));
            Ok(out)
        }
        (Some(b), Some(e)) if b < e => {
            if document[b + begin.len()..].matches(&begin).next().is_some() {
                return Err(err("the begin marker appears twice"));
            }
            let after = &document[e..];
            Ok(format!("{}{begin}\n{body}\n{after}", &document[..b]))
        }
        (Some(_), Some(_)) => Err(err("the end marker comes before the begin marker")),
        (Some(_), None) => Err(err("the begin marker has no end marker")),
        (None, Some(_)) => Err(err("the end marker has no begin marker")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replaces_only_the_text_between_the_markers() {
        let doc = "# B\nintro\n<!-- p:begin -->\nold\nrows\n<!-- p:end -->\ntail\n";
        let out = replace_section(doc, "p", "new\n").unwrap();
        assert_eq!(
            out,
            "# B\nintro\n<!-- p:begin -->\nnew\n<!-- p:end -->\ntail\n"
        );
        // Idempotent: the same body gives the same document.
        assert_eq!(replace_section(&out, "p", "new").unwrap(), out);
    }

    #[test]
    fn appends_the_section_when_it_is_missing() {
        let out = replace_section("# B\n", "p", "rows").unwrap();
        assert_eq!(out, "# B\n\n<!-- p:begin -->\nrows\n<!-- p:end -->\n");
        assert_eq!(
            replace_section("", "p", "x").unwrap(),
            "<!-- p:begin -->\nx\n<!-- p:end -->\n"
        );
    }

    #[test]
    fn other_sections_are_untouched() {
        let doc = "<!-- a:begin -->\n1\n<!-- a:end -->\n<!-- p:begin -->\n2\n<!-- p:end -->\n";
        let out = replace_section(doc, "p", "3").unwrap();
        assert!(out.starts_with("<!-- a:begin -->\n1\n<!-- a:end -->\n"));
        assert!(out.contains("<!-- p:begin -->\n3\n<!-- p:end -->"));
    }

    #[test]
    fn malformed_markers_are_errors_naming_the_problem() {
        let e = replace_section("<!-- p:begin -->\n", "p", "x").unwrap_err();
        assert_eq!(e.problem, "the begin marker has no end marker");
        let e = replace_section("<!-- p:end -->\n<!-- p:begin -->\n", "p", "x").unwrap_err();
        assert_eq!(e.problem, "the end marker comes before the begin marker");
        let e = replace_section("<!-- p:begin --><!-- p:begin --><!-- p:end -->", "p", "x")
            .unwrap_err();
        assert_eq!(e.problem, "the begin marker appears twice");
    }
}
