//! Readable text for errors that come from JavaScript.

/// `worker` renders a JavaScript error as `Error: Error: <message> - Cause: Error: <cause>`,
/// where the cause is often the message again. Keeps the message once, and the cause only when
/// it adds something.
pub(crate) fn plain(text: &str) -> String {
    let Some((message, cause)) = text.split_once(" - Cause: ") else {
        return text.to_owned();
    };
    let message = message.trim_start_matches("Error: ");
    let cause = cause.trim_start_matches("Error: ");
    if cause == message || cause == "N/A" {
        message.to_owned()
    } else {
        format!("{message} (cause: {cause})")
    }
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn a_repeated_cause_is_dropped() {
        assert_eq!(
            plain(
                "Error: Error: Network connection lost. - Cause: Error: Network connection lost."
            ),
            "Network connection lost."
        );
    }

    #[test]
    fn a_distinct_cause_is_kept_and_other_text_is_untouched() {
        assert_eq!(
            plain("Error: TypeError: fetch failed - Cause: Error: connect ECONNREFUSED"),
            "TypeError: fetch failed (cause: connect ECONNREFUSED)"
        );
        assert_eq!(plain("Error: status 500"), "Error: status 500");
    }
}
