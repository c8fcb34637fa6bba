//! Phone numbers, validated once at the edge and carried as E.164 from then on.

use std::fmt;

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType, Region};

/// A valid phone number in E.164 (`+14155550123`). The only way in is [`PhoneNumber::parse`].
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct PhoneNumber {
    e164: String,
    calling_code: u16,
}

/// The region used for numbers written without a `+`: ISO 3166 (`IN`) or chosen via a calling code (`91`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DefaultRegion(Region);

impl DefaultRegion {
    /// From an ISO 3166 alpha-2 code such as `US` or `in`.
    pub fn from_iso(code: &str) -> Option<Self> {
        code.trim().to_ascii_uppercase().parse::<Region>().ok().and_then(Self::supported)
    }

    /// Regions with numbering metadata: not `XX`, nor `ZZ` (libphonenumber's "unknown"). Read from the list below
    /// rather than from libphonenumber, whose metadata (decoded all at once, ~2.5 ms) then need not be loaded to
    /// check the configuration: init loads it on a thread of its own meanwhile ([`PhoneNumber::warm_up`]).
    fn supported(region: Region) -> Option<Self> {
        let code = region.as_region_str();
        REGIONS_WITH_METADATA.split(' ').any(|known| known == code.as_str()).then_some(Self(region))
    }

    /// From a country calling code such as `91` or `+44`: the main region of that code.
    pub fn from_calling_code(code: &str) -> Option<Self> {
        let code: u16 = code.trim().trim_start_matches('+').parse().ok()?;
        PHONE_NUMBER_UTIL.get_region_for_country_code(code.into()).and_then(Self::supported)
    }
}

/// The regions libphonenumber has numbering metadata for (its `get_supported_regions`, which a test compares this
/// with, so an upgrade of its metadata that adds or drops one fails the tests rather than the configuration).
const REGIONS_WITH_METADATA: &str = "AC AD AE AF AG AI AL AM AO AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BW BY BZ \
     CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM \
     FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GT GU GW GY HK HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE \
     JM JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN \
     MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PR PS PT \
     PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TA TC TD TG TH TJ TK \
     TL TM TN TO TR TT TV TW TZ UA UG US UY UZ VA VC VE VG VI VN VU WF WS XK YE YT ZA ZM ZW";

/// A region of the numbering plan, by its ISO 3166 code (`US`, `JM`). A calling code names no region: +1 is
/// shared by the US, Canada and over twenty Caribbean and Pacific regions, each with its own tariffs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NumberRegion(Region);

impl NumberRegion {
    /// From an ISO 3166 alpha-2 code such as `JM` or `in`; only regions with numbering metadata.
    pub fn from_iso(code: &str) -> Option<Self> {
        DefaultRegion::from_iso(code).map(|region| Self(region.0))
    }

    /// Every region that dials with this calling code: `1` is US, CA, JM, DO, AG…; none for non-geographic codes.
    pub fn all_of_calling_code(code: u16) -> Vec<Self> {
        let regions = PHONE_NUMBER_UTIL.get_regions_for_country_calling_code(code.into());
        regions.into_iter().flatten().filter_map(DefaultRegion::supported).map(|region| Self(region.0)).collect()
    }
}

impl PhoneNumber {
    /// Parses what a person typed or an address book holds: `+91 98765 43210`, `(415) 555-0123` with a default
    /// region, `0044…`, `tel:` URIs. Rejects anything libphonenumber does not consider a valid, dialable number.
    pub fn parse(input: &str, default_region: DefaultRegion) -> Option<Self> {
        let input = input.trim();
        // Length bound before the parser sees it: address books hold junk, and the parser is not ours to fuzz.
        if input.is_empty() || input.len() > 40 || input.chars().any(char::is_control) {
            return None;
        }
        // libphonenumber reads letters as keypad digits (1-800-FLOWERS): for a messenger, letters in a number
        // are junk or an attack, never a person's phone. Extensions (`ext. 12`) are not mobile numbers either.
        let without_scheme = input.strip_prefix("tel:").or_else(|| input.strip_prefix("TEL:")).unwrap_or(input);
        if without_scheme.chars().any(char::is_alphabetic) {
            return None;
        }
        let parsed = PHONE_NUMBER_UTIL.parse(input, Some(default_region.0)).ok()?;
        if !PHONE_NUMBER_UTIL.is_valid_number(&parsed) {
            return None;
        }
        let calling_code = u16::try_from(parsed.country_code).ok()?;
        Some(Self { e164: PHONE_NUMBER_UTIL.format(&parsed, PhoneNumberFormat::E164).into_owned(), calling_code })
    }

    /// The one rule for a number a client sent, in every parameter that takes one (`phone`, `phones`, `m`,
    /// `members`), REST and `api.php` alike; `home` is the region of the sender (the caller's own number, or `cc`).
    ///
    /// - Bare digits are mesibo's form, country code + digits (`12015550123`), which is also how this backend
    ///   writes every number: read as international first, and as national in `home` only if that is no valid
    ///   number. So everything this backend answers reads back as the same number.
    /// - Anything written with a `+`, an international prefix (`00…`), a national prefix (`0…`) or separators
    ///   (`(201) 555-0123`, `98765 43210`) is read as written: national in `home` unless it says otherwise, and as
    ///   country code + digits only if it is no valid national number.
    ///
    /// Bare national digits that also form a valid international number are read as international: how often
    /// that happens is measured in docs/NUMBERS.md.
    pub fn read(input: &str, home: DefaultRegion) -> Option<Self> {
        let input = input.trim();
        let international = || {
            let digits: String = input.chars().filter(|c| !is_separator(*c)).collect();
            let bare = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) && !digits.starts_with('0');
            bare.then(|| Self::parse(&format!("+{digits}"), home)).flatten()
        };
        if !input.is_empty() && input.bytes().all(|b| b.is_ascii_digit()) {
            international().or_else(|| Self::parse(input, home))
        } else {
            Self::parse(input, home).or_else(international)
        }
    }

    /// `+14155550123`
    pub fn e164(&self) -> &str {
        &self.e164
    }

    /// `14155550123`: the form mesibo clients use.
    pub fn digits(&self) -> &str {
        &self.e164[1..]
    }

    /// `1`
    pub fn calling_code(&self) -> u16 {
        self.calling_code
    }

    /// The region this number belongs to (`JM` for +1 876…), from the metadata; `None` for the non-geographic
    /// codes (+800, +808, +870, +881, +882, +883, +888, +979), which belong to no region.
    pub fn region(&self) -> Option<NumberRegion> {
        let parsed = PHONE_NUMBER_UTIL.parse(&self.e164, None).ok()?;
        let region = PHONE_NUMBER_UTIL.get_region_for_number(&parsed)?;
        DefaultRegion::supported(region).map(|region| NumberRegion(region.0))
    }

    /// Whether a one-time code may be sent to this number by SMS: only to a mobile in a region, or to a number
    /// the metadata cannot tell from a landline (US and Canada). Every other range is where SMS pumping pays or
    /// codes go nowhere: premium rate, shared cost, toll free, UAN, pager and voicemail ranges bill or never
    /// reach a handset; landlines cannot read an SMS; satellite and the other non-geographic codes are
    /// "mobile" in the metadata but terminate at international premium rates; personal numbers (UK 070)
    /// forward anywhere at a premium; VoIP ranges (UK 056, DE 032…) are the cheapest numbers to hold by the
    /// thousand, and many receive no SMS. docs/SECURITY.md lists the same.
    pub fn receives_sms_codes(&self) -> bool {
        let Ok(parsed) = PHONE_NUMBER_UTIL.parse(&self.e164, None) else {
            return false;
        };
        let mobile = matches!(
            PHONE_NUMBER_UTIL.get_number_type(&parsed),
            PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile
        );
        mobile && self.region().is_some()
    }

    /// The region to use for this person's own address book entries written without a `+`.
    pub fn home_region(&self) -> DefaultRegion {
        DefaultRegion::from_calling_code(&self.calling_code.to_string())
            .expect("a valid number's calling code has a region")
    }

    /// For logs: calling code and the last four digits, nothing that identifies the person on its own.
    pub fn masked(&self) -> String {
        let digits = self.digits();
        let code_len = self.calling_code.to_string().len();
        let tail = &digits[digits.len().saturating_sub(4)..];
        let hidden = digits.len().saturating_sub(code_len + tail.len());
        format!("+{}{}{}", &digits[..code_len], "*".repeat(hidden), tail)
    }

    /// Loads the metadata and its regex cache, so that no request pays for them (init runs it on a thread of its own).
    pub fn warm_up() {
        let region = DefaultRegion::from_iso("US").expect("US is a region");
        let _ = Self::parse("+14155550123", region);
    }
}

/// Never prints the full number: `{:?}` in a log line must be safe.
impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PhoneNumber({})", self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// What people put between the digits of a number.
fn is_separator(c: char) -> bool {
    matches!(c, ' ' | '-' | '.' | '(' | ')' | '/' | '\u{a0}')
}

/// How mesibo (and its apps) address a person: the digits of their E.164 number, without `+`.
pub fn mesibo_address(e164: &str) -> String {
    e164.trim_start_matches('+').to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us() -> DefaultRegion {
        DefaultRegion::from_iso("US").unwrap()
    }

    #[test]
    fn normalises_many_spellings_to_one_e164() {
        let india = DefaultRegion::from_calling_code("91").unwrap();
        for input in ["+91 98765 43210", "098765 43210", "9876543210", "+91-98765-43210", "tel:+91-98765-43210"] {
            assert_eq!(PhoneNumber::parse(input, india).unwrap().e164(), "+919876543210", "{input}");
        }
        assert_eq!(PhoneNumber::parse("(201) 555-0123", us()).unwrap().e164(), "+12015550123");
        assert_eq!(PhoneNumber::parse("+44 7911 123456", us()).unwrap().calling_code(), 44);
    }

    #[test]
    fn rejects_invalid_numbers() {
        for input in [
            "",
            "abc",
            "+1",
            "12",
            "+999 123456",
            "+91 12345",
            "' OR 1=1 --",
            "+1 201\u{7} 555 0123",
            "1".repeat(60).as_str(),
        ] {
            assert!(PhoneNumber::parse(input, us()).is_none(), "{input:?} should be rejected");
        }
    }

    #[test]
    fn masks_all_but_code_and_last_four() {
        let phone = PhoneNumber::parse("+919876543210", us()).unwrap();
        assert_eq!(phone.masked(), "+91******3210");
        assert_eq!(format!("{phone:?}"), "PhoneNumber(+91******3210)");
        assert_eq!(phone.to_string(), "+91******3210");
        assert_eq!(phone.digits(), "919876543210");
    }

    #[test]
    fn default_region_from_calling_code_or_iso() {
        assert_eq!(DefaultRegion::from_calling_code("+44"), DefaultRegion::from_iso("GB"));
        assert_eq!(DefaultRegion::from_calling_code("1"), Some(us()));
        assert_eq!(DefaultRegion::from_calling_code("9999"), None);
        assert_eq!(DefaultRegion::from_iso("zz"), None);
    }

    #[test]
    fn reads_bare_digits_as_mesibo_form_and_written_numbers_as_written() {
        let india = DefaultRegion::from_iso("IN").unwrap();
        let china = DefaultRegion::from_iso("CN").unwrap();
        let read = |input, home| PhoneNumber::read(input, home).map(|p| p.e164().to_owned());
        // mesibo form from an Indian caller: a US number, which as national digits would be no Indian number.
        assert_eq!(read("12015550123", india).as_deref(), Some("+12015550123"));
        // Bare digits that are valid both ways are mesibo form: `13012345678` is a US number here...
        assert_eq!(read("13012345678", china).as_deref(), Some("+13012345678"));
        // ...while the national format a phone displays, or a national prefix, stays national.
        assert_eq!(read("138 1234 5678", china).as_deref(), Some("+8613812345678"));
        assert_eq!(read("09876543210", india).as_deref(), Some("+919876543210"));
        // Bare national digits that are no international number keep working.
        assert_eq!(read("9876543210", india).as_deref(), Some("+919876543210"));
        // Formatted international digits without a `+`: no national number, so country code + digits.
        assert_eq!(read("44 7911 123456", india).as_deref(), Some("+447911123456"));
        assert_eq!(read("+44 7911 123456", india).as_deref(), Some("+447911123456"));
        assert_eq!(read("0044 7911 123456", india).as_deref(), Some("+447911123456"));
        assert_eq!(read("12", india), None);
    }

    #[test]
    fn codes_go_to_mobiles_only_and_regions_come_from_the_number() {
        let phone = |e164| PhoneNumber::parse(e164, us()).unwrap();
        for mobile in ["+12015550123", "+447400123456", "+919876543210", "+4915123456789", "+18762101234"] {
            assert!(phone(mobile).receives_sms_codes(), "{mobile}");
        }
        let refused = [
            ("+19002345678", "US premium rate"),
            ("+449098790000", "UK premium rate"),
            ("+37190123456", "Latvian premium rate"),
            ("+979123456789", "international premium rate"),
            ("+881612345678", "satellite: mobile in the metadata, but of no region"),
            ("+870301234567", "Inmarsat"),
            ("+883510012345", "international VoIP"),
            ("+80012345678", "international toll free"),
            ("+80812345678", "international shared cost"),
            ("+442079460000", "UK landline"),
            ("+447012345678", "UK personal number"),
            ("+445612345678", "UK VoIP"),
            ("+916123456789", "Indian landline"),
        ];
        for (number, kind) in refused {
            assert!(!phone(number).receives_sms_codes(), "{number}: {kind}");
        }
        let region = |e164| phone(e164).region();
        assert_eq!(region("+18762101234"), NumberRegion::from_iso("JM"), "+1 876 is Jamaica, not the US");
        assert_eq!(region("+12015550123"), NumberRegion::from_iso("US"));
        assert_eq!(region("+447911123456"), NumberRegion::from_iso("GG"), "UK numbering, Guernsey's range");
        assert_eq!(region("+881612345678"), None);
        let plus_one = NumberRegion::all_of_calling_code(1);
        assert!(["US", "CA", "JM", "DO", "AG"].iter().all(|r| plus_one.contains(&NumberRegion::from_iso(r).unwrap())));
        assert!(NumberRegion::all_of_calling_code(800).is_empty() && NumberRegion::from_iso("001").is_none());
    }

    #[test]
    fn the_regions_with_metadata_are_libphonenumbers() {
        let mut theirs: Vec<String> =
            PHONE_NUMBER_UTIL.get_supported_regions().map(|r| r.as_region_str().as_str().to_owned()).collect();
        theirs.sort();
        assert_eq!(REGIONS_WITH_METADATA.split(' ').collect::<Vec<_>>(), theirs);
    }

    use proptest::prelude::*;

    /// Every region with numbering metadata, and one of its valid numbers (libphonenumber's example).
    static REGIONS_AND_NUMBERS: std::sync::LazyLock<Vec<(DefaultRegion, PhoneNumber)>> =
        std::sync::LazyLock::new(|| {
            PHONE_NUMBER_UTIL
                .get_supported_regions()
                .filter_map(DefaultRegion::supported)
                .filter_map(|region| {
                    let example = PHONE_NUMBER_UTIL.get_example_number(region.0).ok()?;
                    let e164 = PHONE_NUMBER_UTIL.format(&example, PhoneNumberFormat::E164).into_owned();
                    Some((region, PhoneNumber::parse(&e164, region)?))
                })
                .collect()
        });

    proptest! {
        /// What this backend writes (mesibo form, E.164) reads back as the same number, whoever sends it back.
        #[test]
        fn written_numbers_read_back_as_the_same_number(number in 0usize..10_000, home in 0usize..10_000, tail in 0u32..10_000) {
            let all = &*REGIONS_AND_NUMBERS;
            let (_, example) = &all[number % all.len()];
            let (home, _) = all[home % all.len()];
            // Vary the example's last digits; keep the variants that are valid numbers.
            let digits = example.digits();
            let varied = format!("+{}{:04}", &digits[..digits.len().saturating_sub(4)], tail);
            let phone = PhoneNumber::parse(&varied, home).unwrap_or_else(|| example.clone());
            prop_assert_eq!(PhoneNumber::read(phone.digits(), home), Some(phone.clone()));
            prop_assert_eq!(PhoneNumber::read(phone.e164(), home), Some(phone.clone()));
        }
    }

    proptest! {
        /// Address books hold anything: no input panics, and whatever parses is stable E.164.
        #[test]
        fn parsing_never_panics_and_normalises_stably(input in ".{0,60}", digits in "[+0-9 ()-]{0,30}") {
            for text in [&input, &digits] {
                if let Some(phone) = PhoneNumber::parse(text, us()) {
                    prop_assert!(phone.e164().starts_with('+') && phone.e164()[1..].bytes().all(|b| b.is_ascii_digit()));
                    prop_assert_eq!(PhoneNumber::parse(phone.e164(), us()), Some(phone.clone()));
                    prop_assert_eq!(phone.masked().matches('*').count(), phone.digits().len().saturating_sub(phone.calling_code().to_string().len() + 4));
                }
            }
        }
    }
}
