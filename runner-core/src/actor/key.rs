//! Actor keys as RivetKit's API shows them: a list of strings. The engine carries a key as one
//! string, the parts joined by `/`, where `\` escapes the next character, `\0` stands for an
//! empty part, and `/` alone is the empty key.

/// The parts of the engine's key string `raw` (`None`: an actor created without a key).
pub(crate) fn parse_key(raw: Option<&str>) -> Vec<String> {
    let Some(raw) = raw.filter(|raw| *raw != "/") else {
        return Vec::new();
    };
    let mut parts = Vec::new();
    let mut part = String::new();
    let mut empty_marker = false;
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('0') => empty_marker = true,
                Some(escaped) => part.push(escaped),
                // A trailing lone backslash is kept as it is.
                None => part.push('\\'),
            },
            // The empty-part marker wins over anything else in its part, as in RivetKit.
            '/' => {
                let done = std::mem::take(&mut part);
                parts.push(if empty_marker { String::new() } else { done });
                empty_marker = false;
            }
            c => part.push(c),
        }
    }
    if empty_marker {
        parts.push(String::new());
    } else if !part.is_empty() || !parts.is_empty() {
        parts.push(part);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The engine's spelling of `parts`, as RivetKit's clients write it.
    fn spell(parts: &[&str]) -> String {
        if parts.is_empty() {
            return "/".to_owned();
        }
        let escaped: Vec<String> = parts
            .iter()
            .map(|p| match *p {
                "" => "\\0".to_owned(),
                p => p.replace('\\', "\\\\").replace('/', "\\/"),
            })
            .collect();
        escaped.join("/")
    }

    #[test]
    fn keys_round_trip_through_the_engines_spelling() {
        let cases: &[&[&str]] = &[
            &[],
            &["room"],
            &["org", "room-1"],
            &["a/b", "c\\d"],
            &["", "x"],
            &["x", ""],
            &[""],
            &["ü/日本", "\\0"],
        ];
        for parts in cases {
            let raw = spell(parts);
            assert_eq!(parse_key(Some(&raw)), *parts, "{raw:?}");
        }
    }

    #[test]
    fn no_key_and_odd_spellings() {
        assert!(parse_key(None).is_empty());
        assert!(parse_key(Some("")).is_empty());
        assert_eq!(parse_key(Some("a\\")), ["a\\"]);
        assert_eq!(parse_key(Some("a//b")), ["a", "", "b"]);
    }
}
