//! Limits on what people may put in their profile: the same rules wherever a name, status or photo comes in.

use crate::error::ApiError;

pub const MAX_NAME_CHARS: usize = 64;

/// A display name: at most 64 characters, no control characters.
pub fn profile_name(input: &str) -> Result<String, ApiError> {
    bounded_text(input, MAX_NAME_CHARS)
        .ok_or(ApiError::BadRequest("name: at most 64 characters, no control characters"))
}

fn bounded_text(input: &str, max_chars: usize) -> Option<String> {
    let text = input.trim();
    (text.chars().count() <= max_chars && !text.chars().any(char::is_control)).then(|| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_bounded_and_clean() {
        assert_eq!(profile_name("  Ada Lovelace "), Ok("Ada Lovelace".into()));
        assert_eq!(profile_name(&"é".repeat(64)).map(|n| n.chars().count()), Ok(64));
        assert!(profile_name(&"é".repeat(65)).is_err());
        assert!(profile_name("a\u{0}b").is_err());
        assert!(profile_name("a\nb").is_err());
    }
}
