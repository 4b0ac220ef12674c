//! Links in a post's text: the text split into plain runs and `http(s)` addresses, so a
//! template can draw the addresses as links. Pure: no I/O, no markup; the template escapes
//! every part, a link's address included.
//!
//! Only `http://` and `https://` start a link, so `javascript:`, `data:` and the like stay
//! text. A link runs to the next whitespace or a character that cannot be in an address
//! unescaped (`<`, `>`, `"`, and so on), and leaves out what usually ends a sentence after
//! it: `.`, `,`, `!`, `?` and the like, and a `)` it did not open.

/// One run of a post's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TextPart {
    Text(String),
    Link(String),
}

const SCHEMES: [&str; 2] = ["https://", "http://"];

/// Bytes that end an address: whitespace, and what RFC 3986 never allows unescaped.
fn ends_address(c: char) -> bool {
    c.is_whitespace()
        || c.is_control()
        || matches!(c, '<' | '>' | '"' | '`' | '{' | '}' | '|' | '\\' | '^')
}

/// `text` as plain runs and links, in order; joined, the parts are `text` again.
pub(crate) fn split_links(text: &str) -> Vec<TextPart> {
    // Lowercased once (ASCII only, so byte offsets hold): the search stays linear however
    // long the text and however many addresses it holds.
    let lower = text.to_ascii_lowercase();
    let mut parts = Vec::new();
    let mut plain_from = 0;
    let mut at = 0;
    while let Some(start) = next_scheme(text, &lower, at) {
        let rest = &text[start..];
        let end = start + rest.find(ends_address).unwrap_or(rest.len());
        let end = start + trim_trailing(&text[start..end]).len();
        let scheme_len = SCHEMES
            .iter()
            .find(|scheme| starts_with_ignore_case(rest, scheme))
            .map_or(0, |scheme| scheme.len());
        if end <= start + scheme_len {
            // A scheme with no address after it is text.
            at = start + scheme_len.max(1);
            continue;
        }
        if plain_from < start {
            parts.push(TextPart::Text(text[plain_from..start].to_owned()));
        }
        parts.push(TextPart::Link(text[start..end].to_owned()));
        plain_from = end;
        at = end;
    }
    if plain_from < text.len() {
        parts.push(TextPart::Text(text[plain_from..].to_owned()));
    }
    parts
}

/// Where the next `http://` or `https://` starts at or after `from`, in any case, and not
/// in the middle of a word (`xhttp://` is no link). `lower` is `text` lowercased.
fn next_scheme(text: &str, lower: &str, from: usize) -> Option<usize> {
    let mut search = from;
    while let Some(found) = lower.get(search..)?.find("http") {
        let start = search + found;
        let rest = &text[start..];
        let word_start = text[..start]
            .chars()
            .next_back()
            .is_none_or(|before| !before.is_alphanumeric());
        if word_start
            && SCHEMES
                .iter()
                .any(|scheme| starts_with_ignore_case(rest, scheme))
        {
            return Some(start);
        }
        search = start + "http".len();
    }
    None
}

fn starts_with_ignore_case(text: &str, prefix: &str) -> bool {
    text.get(..prefix.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

/// `address` without the punctuation that ends the sentence around it.
fn trim_trailing(mut address: &str) -> &str {
    loop {
        let Some(last) = address.chars().next_back() else {
            return address;
        };
        let unopened_paren =
            last == ')' && address.matches('(').count() < address.matches(')').count();
        if matches!(last, '.' | ',' | ';' | ':' | '!' | '?' | '\'' | ']') || unopened_paren {
            address = &address[..address.len() - last.len_utf8()];
        } else {
            return address;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn link(text: &str) -> TextPart {
        TextPart::Link(text.to_owned())
    }

    fn plain(text: &str) -> TextPart {
        TextPart::Text(text.to_owned())
    }

    #[test]
    fn addresses_become_links_and_the_rest_stays_text() {
        assert_eq!(
            split_links("see https://example.com/a?b=1&c=2#d, then http://x.org."),
            [
                plain("see "),
                link("https://example.com/a?b=1&c=2#d"),
                plain(", then "),
                link("http://x.org"),
                plain("."),
            ]
        );
        assert_eq!(
            split_links("HTTPS://EXAMPLE.COM"),
            [link("HTTPS://EXAMPLE.COM")]
        );
        assert_eq!(split_links(""), []);
        assert_eq!(split_links("no links"), [plain("no links")]);
    }

    #[test]
    fn other_schemes_bare_schemes_and_mid_word_schemes_stay_text() {
        for text in [
            "javascript:alert(1)",
            "data:text/html,<b>x</b>",
            "https://",
            "http://.",
            "xhttps://example.com",
            "ftp://example.com",
            "//example.com",
        ] {
            assert!(
                split_links(text)
                    .iter()
                    .all(|part| matches!(part, TextPart::Text(_))),
                "{text}: {:?}",
                split_links(text)
            );
        }
    }

    #[test]
    fn a_link_stops_at_what_cannot_be_in_an_address_and_at_closing_punctuation() {
        assert_eq!(
            split_links("<https://a.b/c>"),
            [plain("<"), link("https://a.b/c"), plain(">")]
        );
        assert_eq!(
            split_links("\"https://a.b/\"onmouseover=x"),
            [plain("\""), link("https://a.b/"), plain("\"onmouseover=x")]
        );
        assert_eq!(
            split_links("(see https://en.wikipedia.org/wiki/Rust_(language))"),
            [
                plain("(see "),
                link("https://en.wikipedia.org/wiki/Rust_(language)"),
                plain(")"),
            ]
        );
        assert_eq!(
            split_links("https://a.b/x!?\nnext"),
            [link("https://a.b/x"), plain("!?\nnext")]
        );
        assert_eq!(
            split_links("日本 https://例え.jp/パス 語"),
            [plain("日本 "), link("https://例え.jp/パス"), plain(" 語")]
        );
    }

    proptest! {
        #[test]
        fn the_parts_join_back_into_the_text_and_every_link_is_http(
            text in "(https?://|HTTP://|[a-z(). ,<>\"\n]|é|語){0,40}"
        ) {
            let parts = split_links(&text);
            let joined: String = parts
                .iter()
                .map(|part| match part {
                    TextPart::Text(text) | TextPart::Link(text) => text.as_str(),
                })
                .collect();
            prop_assert_eq!(&joined, &text);
            for part in &parts {
                if let TextPart::Link(address) = part {
                    let lower = address.to_ascii_lowercase();
                    prop_assert!(lower.starts_with("http://") || lower.starts_with("https://"));
                    prop_assert!(!address.contains(ends_address));
                    prop_assert!(address.len() > "http://".len());
                }
            }
        }
    }
}
