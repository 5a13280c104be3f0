//! A HubSpot system's rate limits from `[systems.NAME]`: `tier` picks the published limits
//! (spec §10) and `burst_per_10s`, `daily`, `search_per_second` override them one by one.
//!
//! The tier (or the default, `free`) is only where pacing starts: every non-search answer
//! states the app's burst limit and the account's day, and the connector paces by those, up or
//! down. A number set here is the user's ceiling instead (room left for other apps on the
//! account): the server's stated limit lowers it but never raises it.

use connector_hubspot::{RateLimits, Tier, UserLimits};

use crate::settings::{HubspotSettings, Settings, SystemSettings};

/// The limits `s` configures, or the key and what is wrong with it.
pub fn rate_limits(s: &HubspotSettings) -> Result<(RateLimits, UserLimits), (&'static str, String)> {
    let tier = match s.tier.as_deref() {
        None => Tier::Free,
        Some(name) => Tier::parse(name).ok_or_else(|| {
            ("tier", format!("unknown tier `{name}`; one of {} (see README § Configuration)", Tier::NAMES))
        })?,
    };
    let mut limits = tier.limits();
    let positive = |key: &'static str, v: Option<u32>| match v {
        Some(0) => Err((key, "must be at least 1 (a limit of 0 would never send)".to_string())),
        v => Ok(v),
    };
    let burst = positive("burst_per_10s", s.burst_per_10s)?;
    let daily = positive("daily", s.daily)?;
    let search = positive("search_per_second", s.search_per_second)?;
    limits.burst_per_10s = burst.unwrap_or(limits.burst_per_10s);
    limits.daily = daily.unwrap_or(limits.daily);
    limits.search_per_second = search.unwrap_or(limits.search_per_second);
    Ok((limits, UserLimits { burst: burst.is_some(), daily: daily.is_some() }))
}

/// Pushes each HubSpot system's limit problem as (`systems.NAME.key`, message).
pub fn validate(s: &Settings, push: &mut impl FnMut(String, String)) {
    for (name, system) in &s.systems {
        if let SystemSettings::Hubspot(h) = system
            && let Err((key, message)) = rate_limits(h)
        {
            push(format!("systems.{name}.{key}"), message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::settings::load;

    fn hubspot(extra: &str) -> crate::settings::Loaded {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crosswalk.toml");
        let text = format!(
            "[systems.hs]\nkind = \"hubspot\"\nbase_url = \"https://api.hubapi.com\"\n\
             token = {{ env = \"HUBSPOT_TOKEN\" }}\n{extra}"
        );
        std::fs::write(&path, text).unwrap();
        load(&path, true)
    }

    fn limits(loaded: &crate::settings::Loaded) -> (RateLimits, UserLimits) {
        let s = loaded.settings.as_ref().expect("settings");
        let Some(SystemSettings::Hubspot(h)) = s.systems.get("hs") else { panic!("no hubspot system") };
        rate_limits(h).expect("limits")
    }

    #[test]
    fn a_tier_presets_the_limits_and_numbers_override_them_as_ceilings() {
        let none = hubspot("");
        assert!(none.problems.is_empty(), "{:?}", none.problems);
        assert_eq!(limits(&none), (Tier::Free.limits(), UserLimits::default()), "the safe default");
        let pro = hubspot("tier = \"professional\"\n");
        let want = RateLimits { burst_per_10s: 190, daily: 625_000, search_per_second: 5 };
        assert_eq!(limits(&pro), (want, UserLimits::default()), "a tier is a guess the server corrects");
        let set = hubspot("tier = \"enterprise\"\ndaily = 400000\nsearch_per_second = 4\n");
        let want = RateLimits { burst_per_10s: 190, daily: 400_000, search_per_second: 4 };
        assert_eq!(limits(&set), (want, UserLimits { burst: false, daily: true }));
    }

    #[test]
    fn a_bad_tier_or_a_zero_limit_names_the_file_line_and_key() {
        let loaded = hubspot("tier = \"gold\"\n");
        let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(text[0].contains("crosswalk.toml:5: `systems.hs.tier`: unknown tier `gold`"), "{text:?}");
        assert!(text[0].contains("free, starter, professional, enterprise"), "{text:?}");
        let loaded = hubspot("burst_per_10s = 0\n");
        let text: Vec<String> = loaded.problems.iter().map(ToString::to_string).collect();
        assert_eq!(text.len(), 1, "{text:?}");
        assert!(text[0].contains(":5: `systems.hs.burst_per_10s`: must be at least 1"), "{text:?}");
    }
}
