//! Text that other people are shown (names, statuses, group names): what it may hold, so that what one person types
//! cannot hide, reorder or overdraw what another reads.
//!
//! Directional marks, embeddings and isolates are dropped, and the text NFC-normalised (one spelling per string, so
//! the length limits and comparisons mean the same for every client); then it is refused if it holds:
//! - control characters (Cc, newline included: names and statuses are one line), format characters (Cf: zero-width
//!   space, bidi overrides such as U+202E, the BOM, tag characters), line and paragraph separators (Zl, Zp) or
//!   private-use characters (Co) — except the joiners and tags emoji are made of: U+200D / U+200C between two
//!   visible characters, and the tags of a subdivision flag (🏴 + at most 6 tag letters or digits + the cancel tag);
//! - more than [`MAX_COMBINING_MARKS`] combining marks in a row (stacked diacritics that overdraw the lines around);
//! - nothing visible: not empty, yet only whitespace, fillers (U+3164, U+115F, U+1160, U+FFA0, U+2800, and every other
//!   default-ignorable code point), marks and joiners.

use icu_normalizer::{ComposingNormalizerBorrowed, DecomposingNormalizerBorrowed};
use icu_properties::props::{DefaultIgnorableCodePoint, GeneralCategory};
use icu_properties::{CodePointMapData, CodePointSetData};

/// Combining marks allowed in a row on one base character: enough for every script's stacked vowel and tone marks
/// (Vietnamese, Thai, Devanagari, Hebrew pointing) and an emoji's variation selector with a keycap, not for "Zalgo".
pub const MAX_COMBINING_MARKS: usize = 4;

/// Why text was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    TooLong,
    /// A control, format, separator or private-use character outside an emoji sequence.
    Hidden,
    TooManyMarks,
    /// Not empty, but shows nothing.
    Blank,
}

const ZWNJ: char = '\u{200C}';
const ZWJ: char = '\u{200D}';
const BLACK_FLAG: char = '\u{1F3F4}';
const CANCEL_TAG: char = '\u{E007F}';
/// Tag letters and digits, the only tags a subdivision flag spells with (`gbeng`, `gbsct`, `uscat`).
const FLAG_TAGS: [std::ops::RangeInclusive<char>; 2] = ['\u{E0030}'..='\u{E0039}', '\u{E0061}'..='\u{E007A}'];
const MAX_FLAG_TAGS: usize = 6;
/// Blank, but not default-ignorable (it is a symbol): the braille pattern with no dots.
const BRAILLE_BLANK: char = '\u{2800}';

/// Directional marks, embeddings and isolates: pasted right-to-left text and Android's `BidiFormatter` (around
/// numbers) hold them, and they carry no letters, so they are dropped rather than refused. Dropped, none of them can
/// reorder what others read. The overrides (U+202D, U+202E), which make text read backwards, are refused.
const DROPPED_DIRECTION_MARKS: [char; 10] = [
    '\u{200E}', '\u{200F}', '\u{061C}', '\u{202A}', '\u{202B}', '\u{202C}', '\u{2066}', '\u{2067}', '\u{2068}',
    '\u{2069}',
];

/// Viramas of the Indic and Southeast Asian scripts: a joiner right after one is how a word ends in a half form or
/// chillu (Malayalam `ന്‍`), so it needs no visible character after it.
const VIRAMAS: [char; 14] = [
    '\u{094D}', '\u{09CD}', '\u{0A4D}', '\u{0ACD}', '\u{0B4D}', '\u{0BCD}', '\u{0C4D}', '\u{0CCD}', '\u{0D4D}',
    '\u{0DCA}', '\u{0E3A}', '\u{1039}', '\u{103A}', '\u{17D2}',
];

/// The text, trimmed and NFC-normalised, if it is at most `max_chars` characters and shows only what it seems to.
pub fn shown_text(input: &str, max_chars: usize) -> Result<String, TextProblem> {
    let input: String = input.chars().filter(|c| !DROPPED_DIRECTION_MARKS.contains(c)).collect();
    let text = ComposingNormalizerBorrowed::new_nfc().normalize(input.trim()).into_owned();
    let chars: Vec<char> = text.chars().collect();
    if chars.len() > max_chars {
        return Err(TextProblem::TooLong);
    }
    let category = CodePointMapData::<GeneralCategory>::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let kind = category.get(c);
        if c == BLACK_FLAG
            && let Some(tags) = flag_tags(&chars[i + 1..])
        {
            i += 1 + tags;
            continue;
        }
        let hidden = matches!(
            kind,
            GeneralCategory::Control
                | GeneralCategory::Format
                | GeneralCategory::LineSeparator
                | GeneralCategory::ParagraphSeparator
                | GeneralCategory::PrivateUse
                | GeneralCategory::Surrogate
        );
        if hidden && !(matches!(c, ZWJ | ZWNJ) && joins_visible(&chars, i)) {
            return Err(TextProblem::Hidden);
        }
        i += 1;
    }
    // Counted decomposed: a precomposed letter carries its marks too (á is a + U+0301).
    let mut marks_in_a_row = 0;
    for c in DecomposingNormalizerBorrowed::new_nfd().normalize(&text).chars() {
        marks_in_a_row = if is_mark(category.get(c)) { marks_in_a_row + 1 } else { 0 };
        if marks_in_a_row > MAX_COMBINING_MARKS {
            return Err(TextProblem::TooManyMarks);
        }
    }
    if !chars.is_empty() && chars.iter().all(|c| shows_nothing(*c)) {
        return Err(TextProblem::Blank);
    }
    Ok(text)
}

fn is_mark(kind: GeneralCategory) -> bool {
    matches!(kind, GeneralCategory::NonspacingMark | GeneralCategory::SpacingMark | GeneralCategory::EnclosingMark)
}

/// How many characters after a 🏴 are its subdivision tags, the cancel tag included; `None` if they are not one.
fn flag_tags(after: &[char]) -> Option<usize> {
    let letters = after.iter().take_while(|c| FLAG_TAGS.iter().any(|r| r.contains(*c))).count();
    ((1..=MAX_FLAG_TAGS).contains(&letters) && after.get(letters) == Some(&CANCEL_TAG)).then_some(letters + 1)
}

/// A joiner between two characters that are neither joiners nor invisible themselves (an emoji ZWJ sequence, a
/// Persian or Indic word), not one at either end or in a run of its own kind.
fn joins_visible(chars: &[char], i: usize) -> bool {
    let visible = |c: Option<&char>| c.is_some_and(|c| !matches!(*c, ZWJ | ZWNJ) && !c.is_whitespace());
    let after_virama = i > 0 && VIRAMAS.contains(&chars[i - 1]);
    i > 0 && visible(chars.get(i - 1)) && (visible(chars.get(i + 1)) || after_virama)
}

/// Whitespace, fillers and other default-ignorable code points, and marks: nothing a reader can see on its own.
fn shows_nothing(c: char) -> bool {
    c.is_whitespace()
        || c == BRAILLE_BLANK
        || CodePointSetData::new::<DefaultIgnorableCodePoint>().contains(c)
        || is_mark(CodePointMapData::<GeneralCategory>::new().get(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_normalised_and_trimmed() {
        assert_eq!(shown_text("  Ame\u{301}lie ", 64), Ok("Amélie".into()));
        assert_eq!(shown_text("Amélie", 6).map(|t| t.chars().count()), Ok(6), "limits count composed characters");
        assert_eq!(shown_text("", 64), Ok(String::new()));
    }

    #[test]
    fn ordinary_text_of_any_script_and_emoji_passes() {
        for ok in [
            "Ada Lovelace",
            "Nguyễn Thị Minh Khai",
            "क्षत्रिय",
            "می‌خواهم",
            "שָׁלוֹם",
            "ภาษาไทย",
            "한국어",
            "👨\u{200D}👩\u{200D}👧",
            "🏳️\u{200D}🌈",
            "1\u{FE0F}\u{20E3}",
            "👋🏽",
            "🏴\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E007F} fan",
            "out of office — back Monday",
        ] {
            assert_eq!(shown_text(ok, 140).as_deref(), Ok(ok), "{ok:?}");
        }
    }

    #[test]
    fn hidden_and_direction_changing_characters_are_refused() {
        for bad in [
            "ad\u{202E}gpj.exe",
            "a\u{200B}b",
            "\u{FEFF}Ada",
            "a\u{2028}b",
            "a\u{2029}b",
            "a\u{E0041}\u{E0042}b",
            "\u{1F3F4}\u{E0041}\u{E0042}",
            "\u{1F3F4}\u{E0067}\u{E0062}\u{E0065}\u{E006E}\u{E0067}\u{E0067}\u{E0067}\u{E007F}",
            "a\u{E000}b",
            "a\u{7}b",
            "a\nb",
            "a\u{202D}b",
            "\u{200D}a",
            "a\u{200D}",
            "a\u{200D}\u{200D}b",
            "a\u{AD}b",
        ] {
            assert_eq!(shown_text(bad, 140), Err(TextProblem::Hidden), "{bad:?}");
        }
    }

    #[test]
    fn direction_marks_are_dropped_and_a_joiner_may_end_a_word_after_a_virama() {
        assert_eq!(shown_text("\u{2068}+1 201 555 0123\u{2069}", 64), Ok("+1 201 555 0123".into()), "Android's wrap");
        assert_eq!(shown_text("\u{200F}שלום\u{200E} Ada\u{202C}", 64), Ok("שלום Ada".into()));
        assert_eq!(shown_text("\u{2066}\u{2069}", 64), Ok(String::new()), "marks only: empty");
        let chillu = "ശ്രീധരന\u{D4D}\u{200D}";
        assert_eq!(shown_text(chillu, 64), Ok(chillu.into()));
        assert_eq!(shown_text("Ada\u{200D}", 64), Err(TextProblem::Hidden), "no virama before");
    }

    #[test]
    fn combining_marks_are_capped_per_character() {
        let four = format!("a{}", "\u{301}\u{302}\u{303}\u{304}");
        assert!(shown_text(&four, 64).is_ok());
        assert_eq!(shown_text("á\u{302}\u{303}\u{304}\u{305}", 64), Err(TextProblem::TooManyMarks), "á is a + a mark");
        let zalgo = format!("a{}", "\u{301}\u{302}\u{303}\u{304}\u{305}");
        assert_eq!(shown_text(&zalgo, 64), Err(TextProblem::TooManyMarks));
        assert_eq!(shown_text(&format!("Zalgo{}", "\u{336}".repeat(40)), 140), Err(TextProblem::TooManyMarks));
    }

    #[test]
    fn text_that_shows_nothing_is_refused() {
        for blank in ["\u{3164}", "\u{115F}\u{1160}", "\u{FFA0}", "\u{2800}\u{2800}", "\u{3000}\u{3164}", "\u{301}"] {
            assert_eq!(shown_text(blank, 64), Err(TextProblem::Blank), "{blank:?}");
        }
        assert!(shown_text("\u{3164}x", 64).is_ok(), "a filler beside a visible character is not blank");
    }

    #[test]
    fn length_is_checked_after_normalisation() {
        assert_eq!(shown_text(&"e".repeat(65), 64), Err(TextProblem::TooLong));
    }
}
