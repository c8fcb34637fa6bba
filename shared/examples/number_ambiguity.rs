//! How often a number written as bare digits reads two ways: the figures behind the number-reading rule
//! (docs/NUMBERS.md). For each of the 30 most populous calling regions it samples valid mobile numbers and counts
//!
//! - national digits (`2015550123`, as a person may store a local number) that are also a valid international
//!   number once read as country code + digits (`+20 15550123`): what reading bare digits as international first
//!   gets wrong;
//! - numbers in the national format a phone displays (`(201) 555-0123`, `098765 43210`), misread by the rule;
//! - mesibo-form numbers of the other 29 regions (`447911123456`, as the apps send every number) that are also a
//!   valid national number of the region: what reading bare digits as national first gets wrong;
//! - and how many of those the rule this backend applies ([`shared::model::phone::PhoneNumber::read`]) misreads.
//!
//! `cargo run --release -p shared --example number_ambiguity`: the table in docs/NUMBERS.md (deterministic: a fixed
//! seed).

use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType, Region};
use shared::model::phone::{DefaultRegion, PhoneNumber};

/// The 30 most populous countries (UN World Population Prospects 2024), by ISO code.
const REGIONS: [&str; 30] = [
    "IN", "CN", "US", "ID", "PK", "NG", "BR", "BD", "RU", "ET", "MX", "JP", "EG", "PH", "CD", "VN", "IR", "TR", "DE",
    "TH", "TZ", "GB", "FR", "ZA", "IT", "KE", "MM", "CO", "KR", "SD",
];
const SAMPLES_PER_REGION: usize = 2000;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: reproducible, no dependency.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn digits(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from(b'0' + (self.next() % 10) as u8)).collect()
    }
}

struct Sample {
    /// Digits of the national significant number.
    national: String,
    /// The national format, as a phone displays a local number (`(201) 555-0123`, `098765 43210`).
    formatted: String,
    e164: String,
}

fn region(iso: &str) -> Region {
    iso.parse().expect("an ISO region")
}

/// Random valid mobile numbers of a region: random digits of the example number's length, kept when valid mobile.
fn mobiles(iso: &str, rng: &mut Rng) -> Vec<Sample> {
    let region = region(iso);
    let code = PHONE_NUMBER_UTIL.get_country_code_for_region(region).expect("a calling code");
    let example =
        PHONE_NUMBER_UTIL.get_example_number_for_type_and_region(region, PhoneNumberType::Mobile).expect("an example");
    let example_nsn = example.get_national_significant_number();
    let mut found = vec![];
    for _ in 0..SAMPLES_PER_REGION * 2000 {
        if found.len() == SAMPLES_PER_REGION {
            break;
        }
        // Keep the example's first digit half of the time: mobile ranges are sparse in some plans.
        let len = example_nsn.len();
        let nsn = if rng.next().is_multiple_of(2) {
            format!("{}{}", &example_nsn[..1], rng.digits(len - 1))
        } else {
            rng.digits(len)
        };
        let Ok(number) = PHONE_NUMBER_UTIL.parse(format!("+{code}{nsn}"), None) else { continue };
        let mobile = matches!(
            PHONE_NUMBER_UTIL.get_number_type(&number),
            PhoneNumberType::Mobile | PhoneNumberType::FixedLineOrMobile
        );
        if !PHONE_NUMBER_UTIL.is_valid_number(&number) || !mobile || number.get_national_significant_number() != nsn {
            continue;
        }
        let e164 = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::E164).into_owned();
        let formatted = PHONE_NUMBER_UTIL.format(&number, PhoneNumberFormat::National).into_owned();
        found.push(Sample { formatted, national: nsn, e164 });
    }
    found
}

/// A valid number other than `e164` when `digits` are read as country code + digits.
fn reads_as_other_international(digits: &str, e164: &str) -> bool {
    PHONE_NUMBER_UTIL
        .parse(format!("+{digits}"), None)
        .ok()
        .filter(|n| PHONE_NUMBER_UTIL.is_valid_number(n))
        .is_some_and(|n| PHONE_NUMBER_UTIL.format(&n, PhoneNumberFormat::E164) != e164)
}

/// A valid number other than `e164` when `digits` are read as a national number of `iso`.
fn reads_as_other_national(digits: &str, iso: &str, e164: &str) -> bool {
    PHONE_NUMBER_UTIL
        .parse(digits, Some(region(iso)))
        .ok()
        .filter(|n| PHONE_NUMBER_UTIL.is_valid_number(n))
        .is_some_and(|n| PHONE_NUMBER_UTIL.format(&n, PhoneNumberFormat::E164) != e164)
}

/// What this backend's rule makes of `digits` from a caller in `iso`, if not the number meant.
fn rule_misreads(digits: &str, iso: &str, e164: &str) -> bool {
    let home = DefaultRegion::from_iso(iso).expect("a supported region");
    PhoneNumber::read(digits, home).is_some_and(|p| p.e164() != e164)
}

fn percent(count: usize, of: usize) -> String {
    format!("{:.2} %", 100.0 * count as f64 / of.max(1) as f64)
}

fn main() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let samples: Vec<(&str, Vec<Sample>)> = REGIONS.iter().map(|iso| (*iso, mobiles(iso, &mut rng))).collect();
    println!(
        "| region | mobiles sampled | bare national digits that are also a valid international number | \
         national format (`(201) 555-0123`) misread | foreign mesibo-form numbers that are also a valid national \
         number | foreign mesibo form misread |"
    );
    println!("|---|---:|---:|---:|---:|---:|");
    let mut totals = [0usize; 6];
    for (iso, own) in &samples {
        // Bare national digits are read as international first: every ambiguous one is misread.
        let bare_ambiguous = own.iter().filter(|s| reads_as_other_international(&s.national, &s.e164)).count();
        assert_eq!(bare_ambiguous, own.iter().filter(|s| rule_misreads(&s.national, iso, &s.e164)).count());
        let formatted_misread = own.iter().filter(|s| rule_misreads(&s.formatted, iso, &s.e164)).count();
        let foreign: Vec<&Sample> =
            samples.iter().filter(|(other, _)| other != iso).flat_map(|(_, s)| s.iter().step_by(29)).collect();
        let foreign_ambiguous = foreign.iter().filter(|s| reads_as_other_national(&s.e164[1..], iso, &s.e164)).count();
        let foreign_misread = foreign.iter().filter(|s| rule_misreads(&s.e164[1..], iso, &s.e164)).count();
        println!(
            "| {iso} | {} | {} | {} | {} | {} |",
            own.len(),
            percent(bare_ambiguous, own.len()),
            percent(formatted_misread, own.len()),
            percent(foreign_ambiguous, foreign.len()),
            percent(foreign_misread, foreign.len()),
        );
        let counts = [own.len(), bare_ambiguous, formatted_misread, foreign.len(), foreign_ambiguous, foreign_misread];
        for (total, add) in totals.iter_mut().zip(counts) {
            *total += add;
        }
    }
    let [own, bare, formatted, foreign, foreign_ambiguous, foreign_misread] = totals;
    println!(
        "| **all 30** | {own} | {} | {} | {} | {} |",
        percent(bare, own),
        percent(formatted, own),
        percent(foreign_ambiguous, foreign),
        percent(foreign_misread, foreign),
    );
}
