//! Who a connection belongs to: the vendor's own id for the customer (`external_id`), tags,
//! the customer's Concur admin (`contact`) and the console account that owns it. Each value is
//! parsed here once, at the boundary, with a message naming the field; the store keeps only
//! what passed. A [`Selector`] (`env=prod,region=emea`) is the one way tags are matched.
//! Plain types: the Validate path and the store use them, they use nothing of the console.

use std::collections::BTreeMap;

use crate::Error;

/// At most this many tags on one connection.
pub const MAX_TAGS: usize = 20;
const MAX_EXTERNAL_ID: usize = 128;
const MAX_TAG_KEY: usize = 40;
const MAX_TAG_VALUE: usize = 100;
const MAX_CONTACT_NAME: usize = 100;
const MAX_EMAIL: usize = 254;

/// The vendor's own id for this customer (its tenant id): unique among connections.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let raw = raw.trim();
        let fits = (1..=MAX_EXTERNAL_ID).contains(&raw.chars().count())
            && raw
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-'));
        if fits {
            Ok(Self(raw.to_owned()))
        } else {
            Err(Error::invalid(
                "external_id",
                "An external id is 1 to 128 characters of letters, digits and . _ : - (your own id for this customer, such as its tenant id).",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn tag_key(raw: &str, field: &str) -> Result<String, Error> {
    let key = raw.trim();
    let fits = (1..=MAX_TAG_KEY).contains(&key.len())
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '.' | '-'));
    if fits {
        Ok(key.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!(
                "A tag's key is 1 to 40 characters of a-z, 0-9 and _ . - (such as env or region); {:?} is not.",
                printable(key)
            ),
        ))
    }
}

fn tag_value(raw: &str, key: &str, field: &str) -> Result<String, Error> {
    let value = raw.trim();
    if (1..=MAX_TAG_VALUE).contains(&value.chars().count()) && !value.chars().any(char::is_control)
    {
        Ok(value.to_owned())
    } else {
        Err(Error::invalid(
            field,
            format!("The value of tag {key} must be 1 to 100 printable characters."),
        ))
    }
}

/// What may be shown of a refused value: control characters as escapes, at most 40 characters.
pub(crate) fn printable(text: &str) -> String {
    text.chars().take(40).flat_map(char::escape_debug).collect()
}

/// A connection's tags, `key=value`, each key once, at most [`MAX_TAGS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tags(BTreeMap<String, String>);

impl Tags {
    /// Tags written one `key=value` per line (the form's and the terminal's way); blank lines
    /// are skipped.
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut tags = BTreeMap::new();
        for line in raw.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((key, value)) = line.split_once('=') else {
                return Err(Error::invalid(
                    "tags",
                    format!(
                        "Write each tag as key=value, such as env=prod; {:?} has no =.",
                        printable(line)
                    ),
                ));
            };
            let key = tag_key(key, "tags")?;
            let value = tag_value(value, &key, "tags")?;
            if tags.insert(key.clone(), value).is_some() {
                return Err(Error::invalid(
                    "tags",
                    format!("Tag {key} is given twice; a connection has one value per key."),
                ));
            }
        }
        Self::of(tags)
    }

    fn of(tags: BTreeMap<String, String>) -> Result<Self, Error> {
        if tags.len() > MAX_TAGS {
            return Err(Error::invalid(
                "tags",
                format!(
                    "A connection has at most {MAX_TAGS} tags; this would give it {}.",
                    tags.len()
                ),
            ));
        }
        Ok(Self(tags))
    }

    /// These tags with `set` put (a key already present gets the new value) and the keys of
    /// `remove` taken away.
    pub fn changed(&self, set: &Tags, remove: &[String]) -> Result<Self, Error> {
        let mut tags = self.0.clone();
        for key in remove {
            tags.remove(&tag_key(key, "untag")?);
        }
        tags.extend(set.0.iter().map(|(k, v)| (k.clone(), v.clone())));
        Self::of(tags)
    }

    /// Tags as the store read them back (already checked when written).
    pub fn stored(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(pairs.into_iter().collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// As JSON shows tags: an object, `{"env": "prod"}`.
    pub fn json(&self) -> serde_json::Value {
        self.iter()
            .map(|(k, v)| (k.to_owned(), serde_json::Value::from(v)))
            .collect::<serde_json::Map<_, _>>()
            .into()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `env=prod, region=emea`: how lists and the audit log show them.
    pub fn words(&self) -> String {
        self.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Tags a connection must all have to match: `env=prod,region=emea` (in a URL query,
/// `tag=env:prod`, repeatable). An empty selector matches every connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector(Vec<(String, String)>);

impl Selector {
    pub fn parse(raw: &str) -> Result<Self, Error> {
        let mut pairs = Vec::new();
        for part in raw.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            pairs.push(Self::pair(part, '=')?);
        }
        Ok(Self(pairs))
    }

    /// The pairs of repeated `key=value` (or `key:value`, as URL queries write them).
    pub fn of_pairs<'a>(raw: impl IntoIterator<Item = &'a str>) -> Result<Self, Error> {
        let mut pairs = Vec::new();
        for part in raw.into_iter().map(str::trim).filter(|p| !p.is_empty()) {
            let separator = if part.contains('=') { '=' } else { ':' };
            pairs.push(Self::pair(part, separator)?);
        }
        Ok(Self(pairs))
    }

    fn pair(part: &str, separator: char) -> Result<(String, String), Error> {
        let Some((key, value)) = part.split_once(separator) else {
            return Err(Error::invalid(
                "selector",
                format!(
                    "A selector is key=value pairs separated by commas, such as env=prod,region=emea; {:?} is not one.",
                    printable(part)
                ),
            ));
        };
        let key = tag_key(key, "selector")?;
        let value = tag_value(value, &key, "selector")?;
        Ok((key, value))
    }

    pub fn pairs(&self) -> &[(String, String)] {
        &self.0
    }

    pub fn matches(&self, tags: &Tags) -> bool {
        self.0.iter().all(|(k, v)| tags.0.get(k) == Some(v))
    }
}

/// Written as it is read: `key=value` pairs joined by commas (empty for every connection).
impl std::fmt::Display for Selector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, (key, value)) in self.0.iter().enumerate() {
            let comma = if i == 0 { "" } else { "," };
            write!(f, "{comma}{key}={value}")?;
        }
        Ok(())
    }
}

/// The customer's Concur admin: who hand-off and renewal mails go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Contact {
    pub name: Option<String>,
    pub email: String,
}

impl Contact {
    /// A contact from its two fields; none when both are blank. An address is needed whenever a
    /// name is given: mails go to the address.
    pub fn parse(name: &str, email: &str) -> Result<Option<Self>, Error> {
        let (name, email) = (name.trim(), email.trim());
        if name.is_empty() && email.is_empty() {
            return Ok(None);
        }
        if name.chars().count() > MAX_CONTACT_NAME || name.chars().any(char::is_control) {
            return Err(Error::invalid(
                "contact_name",
                "A contact's name is at most 100 printable characters.",
            ));
        }
        if !is_email(email) {
            return Err(Error::invalid(
                "contact_email",
                "Give the contact's e-mail address, such as concur.admin@customer.example.",
            ));
        }
        Ok(Some(Self {
            name: (!name.is_empty()).then(|| name.to_owned()),
            email: email.to_owned(),
        }))
    }

    /// `Name <address>`, or the address alone.
    pub fn words(&self) -> String {
        match &self.name {
            Some(name) => format!("{name} <{}>", self.email),
            None => self.email.clone(),
        }
    }
}

/// An address mail can go to: one `@`, a local part, a domain with a dot and no empty label, no
/// spaces, quotes or control characters.
pub(crate) fn is_email(raw: &str) -> bool {
    let Some((local, domain)) = raw.split_once('@') else {
        return false;
    };
    raw.len() <= MAX_EMAIL
        && !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || !c.is_ascii())
        })
        && !local.chars().any(|c| {
            c.is_whitespace() || c.is_control() || matches!(c, '"' | '<' | '>' | ',' | ';')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(error: Error) -> String {
        error.field().unwrap_or_default().to_owned()
    }

    #[test]
    fn external_ids_keep_to_their_characters_and_length() {
        assert_eq!(
            ExternalId::parse(" tenant:42_a.b-c ").unwrap().as_str(),
            "tenant:42_a.b-c"
        );
        for bad in ["", "two words", "ümlaut", "a/b", &"x".repeat(129)] {
            assert_eq!(field(ExternalId::parse(bad).unwrap_err()), "external_id");
        }
        assert!(ExternalId::parse(&"x".repeat(128)).is_ok());
    }

    #[test]
    fn tags_parse_one_per_line_and_refuse_what_breaks_a_rule() {
        let tags = Tags::parse("env=prod\n\n region = emea \n").unwrap();
        assert_eq!(tags.words(), "env=prod, region=emea");
        for bad in [
            "env",
            "Env=prod",
            "env=",
            "env=a\u{7}b",
            "env=prod\nenv=dev",
            &format!("{}=v", "k".repeat(41)),
            &format!("k={}", "v".repeat(101)),
        ] {
            assert_eq!(field(Tags::parse(bad).unwrap_err()), "tags", "{bad:?}");
        }
        let many: String = (0..=MAX_TAGS).map(|i| format!("k{i}=v\n")).collect();
        assert!(Tags::parse(&many).is_err());
    }

    #[test]
    fn changing_tags_sets_replaces_and_removes_within_the_limit() {
        let tags = Tags::parse("env=prod\nregion=emea").unwrap();
        let changed = tags
            .changed(
                &Tags::parse("env=dev\ntier=gold").unwrap(),
                &["region".into()],
            )
            .unwrap();
        assert_eq!(changed.words(), "env=dev, tier=gold");
        let full: String = (0..MAX_TAGS).map(|i| format!("k{i}=v\n")).collect();
        let full = Tags::parse(&full).unwrap();
        assert!(
            full.changed(&Tags::parse("one=more").unwrap(), &[])
                .is_err()
        );
        assert!(
            full.changed(&Tags::parse("one=more").unwrap(), &["k0".into()])
                .is_ok()
        );
    }

    #[test]
    fn a_selector_matches_when_every_pair_does() {
        let tags = Tags::parse("env=prod\nregion=emea").unwrap();
        assert!(Selector::parse("").unwrap().matches(&tags));
        assert!(Selector::parse("env=prod").unwrap().matches(&tags));
        assert!(
            Selector::parse("env=prod, region=emea")
                .unwrap()
                .matches(&tags)
        );
        assert!(
            !Selector::parse("env=prod,region=us")
                .unwrap()
                .matches(&tags)
        );
        assert!(
            Selector::of_pairs(["env:prod", "region=emea"])
                .unwrap()
                .matches(&tags)
        );
        assert_eq!(field(Selector::parse("env").unwrap_err()), "selector");
    }

    #[test]
    fn a_contact_needs_an_address_that_mail_can_reach() {
        assert_eq!(Contact::parse(" ", "").unwrap(), None);
        let contact = Contact::parse("Ana Ruiz", "ana@acme.example")
            .unwrap()
            .unwrap();
        assert_eq!(contact.words(), "Ana Ruiz <ana@acme.example>");
        assert_eq!(
            field(Contact::parse("Ana Ruiz", "").unwrap_err()),
            "contact_email"
        );
        for bad in [
            "ana",
            "ana@",
            "@acme.example",
            "ana@acme",
            "a na@acme.example",
            "ana@acme..example",
            "ana@@acme.example",
        ] {
            assert_eq!(
                field(Contact::parse("", bad).unwrap_err()),
                "contact_email",
                "{bad}"
            );
        }
        assert_eq!(
            field(Contact::parse("Ana\u{1b}[31m", "ana@acme.example").unwrap_err()),
            "contact_name"
        );
    }
}
