//! Handles: the short names a key can own on the chain (`@alice`).
//!
//! A handle is lowercase ASCII letters, digits and `_`, 1 to [`MAX_HANDLE_LEN`] of them, so
//! one handle has one spelling: no case folding, no Unicode look-alikes, nothing a URL or
//! HTML must escape. Who owns a handle is not decided here but by the chain's order: the
//! key whose claim (a signed profile naming it) was confirmed first on the best chain.

use std::fmt;

/// The longest handle, in bytes (and characters: a handle is ASCII).
pub const MAX_HANDLE_LEN: usize = 30;

/// A well-formed handle; only [`Handle::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Handle(String);

/// Why text is not a handle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandleError {
    #[error("a handle must not be empty")]
    Empty,
    #[error("a handle is at most {MAX_HANDLE_LEN} characters; this one is {len}")]
    TooLong { len: usize },
    #[error("a handle holds only a-z, 0-9 and _; it has {found:?}")]
    Character { found: char },
}

impl Handle {
    pub fn parse(text: &str) -> Result<Self, HandleError> {
        if text.is_empty() {
            return Err(HandleError::Empty);
        }
        if let Some(found) = text
            .chars()
            .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
        {
            return Err(HandleError::Character { found });
        }
        if text.len() > MAX_HANDLE_LEN {
            return Err(HandleError::TooLong { len: text.len() });
        }
        Ok(Handle(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Handle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn handles_are_lowercase_ascii_letters_digits_and_underscores() {
        for good in [
            "a",
            "alice",
            "bob_42",
            "_",
            "0",
            &"z".repeat(MAX_HANDLE_LEN),
        ] {
            assert_eq!(Handle::parse(good).map(|h| h.to_string()), Ok(good.into()));
        }
        assert_eq!(Handle::parse(""), Err(HandleError::Empty));
        assert_eq!(
            Handle::parse(&"z".repeat(MAX_HANDLE_LEN + 1)),
            Err(HandleError::TooLong {
                len: MAX_HANDLE_LEN + 1
            })
        );
        for (bad, found) in [
            ("Alice", 'A'),
            ("al ice", ' '),
            ("@alice", '@'),
            ("al.ice", '.'),
            ("alicé", 'é'),
            ("аlice", 'а'), // Cyrillic a
            ("a\u{200b}b", '\u{200b}'),
        ] {
            assert_eq!(Handle::parse(bad), Err(HandleError::Character { found }));
        }
    }

    proptest! {
        #[test]
        fn parsing_accepts_exactly_the_handle_alphabet(text in "\\PC{0,40}") {
            let well_formed = !text.is_empty()
                && text.len() <= MAX_HANDLE_LEN
                && text.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
            let parsed = Handle::parse(&text);
            prop_assert_eq!(parsed.is_ok(), well_formed);
            if let Ok(handle) = parsed {
                prop_assert_eq!(handle.as_str(), text.as_str());
            }
        }
    }
}
