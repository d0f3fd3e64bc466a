//! `berth network ls --filter KEY=VALUE`, as `docker network ls --filter`:
//!
//! - `name=TEXT`: the name contains TEXT;
//! - `driver=DRIVER`: the driver is DRIVER;
//! - `label=KEY` or `label=KEY=VALUE`: the network has the label (with
//!   that value).
//!
//! Several values of `name` or `driver` match any of them; several labels
//! must all be there; different keys must all match.

use crate::model::NetworkDef;
use crate::{Error, Result};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Filters {
    names: Vec<String>,
    drivers: Vec<String>,
    labels: Vec<(String, Option<String>)>,
}

impl Filters {
    /// Parses `--filter` values; an unknown key is refused.
    pub fn parse(items: &[String]) -> Result<Self> {
        let mut f = Filters::default();
        for item in items {
            let (key, value) = item
                .split_once('=')
                .ok_or_else(|| Error::Invalid(format!("--filter {item:?}: expected KEY=VALUE")))?;
            match key {
                "name" => f.names.push(value.to_owned()),
                "driver" => f.drivers.push(value.to_owned()),
                "label" => {
                    let (k, v) = match value.split_once('=') {
                        Some((k, v)) => (k, Some(v.to_owned())),
                        None => (value, None),
                    };
                    if k.is_empty() {
                        return Err(Error::Invalid(format!(
                            "--filter {item:?}: label=KEY or label=KEY=VALUE"
                        )));
                    }
                    f.labels.push((k.to_owned(), v));
                }
                other => {
                    return Err(Error::Invalid(format!(
                        "--filter {item:?}: unknown filter {other:?} (known: name, driver, label)"
                    )))
                }
            }
        }
        Ok(f)
    }

    pub fn matches(&self, def: &NetworkDef) -> bool {
        (self.names.is_empty() || self.names.iter().any(|n| def.name.contains(n.as_str())))
            && (self.drivers.is_empty() || self.drivers.iter().any(|d| d == def.driver.name()))
            && self
                .labels
                .iter()
                .all(|(k, v)| match (def.labels.get(k), v) {
                    (Some(have), Some(want)) => have == want,
                    (Some(_), None) => true,
                    (None, _) => false,
                })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Driver;
    use std::collections::BTreeMap;

    fn def(name: &str, driver: Driver, labels: &[(&str, &str)]) -> NetworkDef {
        NetworkDef {
            driver,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<BTreeMap<_, _>>(),
            ..crate::model::test_network(name, "10.213.40.0/24")
        }
    }

    fn f(items: &[&str]) -> Filters {
        Filters::parse(&items.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn labels_all_must_match() {
        let d = def("web", Driver::Bridge, &[("tier", "front"), ("team", "a")]);
        assert!(f(&[]).matches(&d));
        assert!(f(&["label=tier"]).matches(&d));
        assert!(f(&["label=tier=front"]).matches(&d));
        assert!(!f(&["label=tier=back"]).matches(&d));
        assert!(f(&["label=tier=front", "label=team=a"]).matches(&d));
        assert!(!f(&["label=tier=front", "label=owner"]).matches(&d));
        // An empty value is a value.
        assert!(!f(&["label=tier="]).matches(&d));
    }

    #[test]
    fn names_and_drivers_match_any() {
        let d = def("web-1", Driver::Macvlan, &[]);
        assert!(f(&["name=web"]).matches(&d));
        assert!(f(&["name=db", "name=eb-"]).matches(&d));
        assert!(!f(&["name=db"]).matches(&d));
        assert!(f(&["driver=bridge", "driver=macvlan"]).matches(&d));
        assert!(!f(&["driver=bridge", "name=web"]).matches(&d));
    }

    #[test]
    fn refuses_what_it_does_not_know() {
        for bad in ["label", "id=3", "label==x", "scope=local"] {
            assert!(Filters::parse(&[bad.to_string()]).is_err(), "{bad}");
        }
    }
}
