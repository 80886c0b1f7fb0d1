//! Splitting a YAML stream into its documents, keeping each one's position in the file.
//!
//! serde-saphyr hands out a `Deserializer` (which `serde_ignored` needs to wrap) only for a
//! single document, so the stream is cut at its `---` markers first. The cut is exact: YAML
//! forbids a line that starts with `---` followed by a space, a tab or the line's end anywhere
//! but as a document marker, even inside block and quoted scalars (YAML 1.2 `c-forbidden`).

/// One document's text and the number of lines before it in the stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Chunk<'a> {
    pub(super) text: &'a str,
    /// Lines of the stream before `text` starts; add it to a 1-based line within `text`.
    pub(super) line_offset: u64,
}

/// Cuts `yaml` before every `---` marker line (and the `%` directive lines just above it).
/// Chunks with nothing but whitespace are dropped; marker- or comment-only ones are kept and
/// parse as empty documents.
pub(super) fn split(yaml: &str) -> Vec<Chunk<'_>> {
    let yaml = yaml.strip_prefix('\u{feff}').unwrap_or(yaml);
    let mut starts: Vec<(usize, u64)> = vec![(0, 0)];
    // Start of the run of directive lines just before the current line, if any.
    let mut directives: Option<(usize, u64)> = None;
    let mut offset = 0;
    for (index, line) in (0u64..).zip(yaml.split_inclusive('\n')) {
        if is_document_marker(line) {
            let start = directives.unwrap_or((offset, index));
            if start.0 > 0 {
                starts.push(start);
            }
            directives = None;
        } else if line.starts_with('%') {
            directives.get_or_insert((offset, index));
        } else {
            directives = None;
        }
        offset += line.len();
    }

    let ends = starts
        .iter()
        .skip(1)
        .map(|&(start, _)| start)
        .chain([yaml.len()]);
    starts
        .iter()
        .zip(ends)
        .map(|(&(start, line_offset), end)| Chunk {
            text: &yaml[start..end],
            line_offset,
        })
        .filter(|chunk| !chunk.text.trim().is_empty())
        .collect()
}

fn is_document_marker(line: &str) -> bool {
    line.strip_prefix("---")
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(yaml: &str) -> Vec<(&str, u64)> {
        split(yaml)
            .into_iter()
            .map(|c| (c.text, c.line_offset))
            .collect()
    }

    #[test]
    fn single_document_is_one_chunk() {
        assert_eq!(texts("a: 1\nb: 2\n"), [("a: 1\nb: 2\n", 0)]);
    }

    #[test]
    fn cuts_before_markers_and_counts_lines() {
        let yaml = "---\na: 1\n---\nb: 2\n--- # third\nc: 3";
        assert_eq!(
            texts(yaml),
            [
                ("---\na: 1\n", 0),
                ("---\nb: 2\n", 2),
                ("--- # third\nc: 3", 4)
            ]
        );
    }

    #[test]
    fn lookalikes_are_not_markers() {
        let yaml = "a: |\n  ---\nb: ---x\n----\n";
        assert_eq!(texts(yaml), [(yaml, 0)]);
    }

    #[test]
    fn directives_go_with_the_next_document() {
        let yaml = "a: 1\n...\n%YAML 1.2\n---\nb: 2\n";
        assert_eq!(
            texts(yaml),
            [("a: 1\n...\n", 0), ("%YAML 1.2\n---\nb: 2\n", 2)]
        );
    }

    #[test]
    fn blank_chunks_are_dropped() {
        // Marker-only chunks are kept: they parse as empty documents, which the loader skips.
        assert_eq!(
            texts("\n---\n---\na: 1\n---\n\n"),
            [("---\n", 1), ("---\na: 1\n", 2), ("---\n\n", 4)]
        );
        assert!(texts("").is_empty());
    }

    #[test]
    fn crlf_markers_are_found() {
        assert_eq!(
            texts("a: 1\r\n---\r\nb: 2\r\n"),
            [("a: 1\r\n", 0), ("---\r\nb: 2\r\n", 1)]
        );
    }
}
