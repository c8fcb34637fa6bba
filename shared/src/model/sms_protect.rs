//! The account's SMS protect configuration (AWS End User Messaging SMS): the destination countries AWS itself lets
//! an SMS go to, whatever the code asks for. It backs up `ALLOWED_REGIONS` on AWS's side: a pumper who finds a way
//! past the app's checks still cannot make the account text a country the deployment does not serve.

use std::collections::BTreeMap;

use super::phone::NumberRegion;

/// The countries the stack serves: `*` every one, else ISO 3166 codes (the template's `ALLOWED_REGIONS`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CountryAllowList {
    Every,
    Only(Vec<String>),
}

impl CountryAllowList {
    /// `*`, or comma-separated ISO 3166 regions that have phone numbers (`US, ca`); `None` when anything else (an
    /// empty list included: a configuration allowing nothing would stop every SMS, the app's users' included).
    pub fn parse(text: &str) -> Option<Self> {
        let codes: Vec<String> =
            text.split(',').map(|code| code.trim().to_ascii_uppercase()).filter(|code| !code.is_empty()).collect();
        if codes == ["*"] {
            return Some(Self::Every);
        }
        let valid = !codes.is_empty() && codes.iter().all(|code| NumberRegion::from_iso(code).is_some());
        valid.then_some(Self::Only(codes))
    }

    fn allows(&self, country: &str) -> bool {
        match self {
            Self::Every => true,
            Self::Only(codes) => codes.iter().any(|code| code == country),
        }
    }
}

/// What a protect configuration does with SMS to one country (AWS also has `MONITOR` and `FILTER`, unused here).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtectStatus {
    Allow,
    Block,
}

impl ProtectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Allow => "ALLOW",
            Self::Block => "BLOCK",
        }
    }
}

/// A rule for every country AWS lists (`known`): the allowed ones `ALLOW`, every other `BLOCK`. A protect
/// configuration allows each country it has no `BLOCK` for, so it is an allow-list only when it names them all; the
/// list comes from AWS (the configuration's own rule set), so a country AWS adds later is named on the next update.
/// An allowed country AWS does not list is named too: AWS refuses it, which is better than silently dropping it.
pub fn country_rules(
    known: impl IntoIterator<Item = String>,
    allowed: &CountryAllowList,
) -> BTreeMap<String, ProtectStatus> {
    let mut rules: BTreeMap<String, ProtectStatus> = known
        .into_iter()
        .map(|country| country.to_ascii_uppercase())
        .map(|country| {
            let status = if allowed.allows(&country) { ProtectStatus::Allow } else { ProtectStatus::Block };
            (country, status)
        })
        .collect();
    if let CountryAllowList::Only(codes) = allowed {
        for code in codes {
            rules.insert(code.clone(), ProtectStatus::Allow);
        }
    }
    rules
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_allow_list_is_a_star_or_regions_with_numbers() {
        assert_eq!(CountryAllowList::parse("*"), Some(CountryAllowList::Every));
        assert_eq!(CountryAllowList::parse(" us, CA "), Some(CountryAllowList::Only(vec!["US".into(), "CA".into()])));
        for bad in ["", " , ", "US,XX", "USA", "*,US", "1"] {
            assert_eq!(CountryAllowList::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn every_known_country_but_the_allowed_ones_is_blocked() {
        let known = ["US", "CA", "GB", "in", "JM"].map(String::from);
        let rules = country_rules(known.clone(), &CountryAllowList::parse("US,IN").unwrap());
        let allowed: Vec<&str> =
            rules.iter().filter(|(_, s)| **s == ProtectStatus::Allow).map(|(c, _)| c.as_str()).collect();
        assert_eq!(allowed, ["IN", "US"]);
        assert_eq!(rules.len(), 5, "a rule for every country, so none is allowed by omission");
        assert_eq!(rules["JM"], ProtectStatus::Block, "+1 876 is not the US");

        let everywhere = country_rules(known.clone(), &CountryAllowList::Every);
        assert!(everywhere.values().all(|s| *s == ProtectStatus::Allow) && everywhere.len() == 5);

        let unlisted = country_rules(known, &CountryAllowList::parse("FR").unwrap());
        assert_eq!(unlisted["FR"], ProtectStatus::Allow, "named, so AWS can refuse it if it does not know it");
    }
}
