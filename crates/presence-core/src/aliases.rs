//! Phone-dialable names for entities whose own names a phone cannot dial (docs/lamps.md): a BLF
//! key set to `701` watches `park+701`, the park slot's lamp. An alias maps a user part, or
//! with a trailing `*` every user part that starts with what comes before it, to the user
//! part of the entity it stands for, whose own trailing `*` takes the rest. Aliases name what
//! is watched (a SUBSCRIBE's target, an integration's entity), never who acts: a phone
//! registering or subscribing as 7012 stays 7012.

/// One alias.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserAlias {
    /// The user part dialled, or its start (with `wildcard`).
    dialed: String,
    /// The entity's user part, or its start (with `wildcard`).
    entity: String,
    /// `dialed` and `entity` are prefixes, the rest of the dialled name carried over.
    wildcard: bool,
}

/// Why an alias is refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("user alias {dialed:?} = {entity:?}: {problem}")]
pub struct AliasError {
    dialed: String,
    entity: String,
    problem: &'static str,
}

impl UserAlias {
    /// Reads `dialed = entity`, both user parts (`701 = park+701`), or both ending in `*`
    /// (`70* = park+70*`).
    pub fn parse(dialed: &str, entity: &str) -> Result<UserAlias, AliasError> {
        let refused = |problem| AliasError { dialed: dialed.to_owned(), entity: entity.to_owned(), problem };
        let allowed = |part: &str| !part.is_empty() && !part.contains(['@', ':', ';', '?', '>', '<', ' ']);
        let (d, e) = match (dialed.strip_suffix('*'), entity.strip_suffix('*')) {
            (Some(d), Some(e)) => (d, e),
            (None, None) => (dialed, entity),
            _ => return Err(refused("either both end in * or neither does")),
        };
        if d.contains('*') || e.contains('*') || !allowed(d) || !allowed(e) {
            return Err(refused("each side is a user part (no @, no spaces), with at most a trailing *"));
        }
        if d == e {
            return Err(refused("an alias names another entity"));
        }
        Ok(UserAlias { dialed: d.to_owned(), entity: e.to_owned(), wildcard: dialed.ends_with('*') })
    }

    /// Whether this alias covers names that an alias's result could be: a chain, which would
    /// make a name mean one thing now and another once stored and read again.
    fn covers_a_result_of(&self, other: &UserAlias) -> bool {
        if other.wildcard {
            self.dialed.starts_with(&other.entity) || (self.wildcard && other.entity.starts_with(&self.dialed))
        } else {
            self.map(&other.entity).is_some()
        }
    }

    /// The entity's user part for dialled `user`, if this alias covers it.
    fn map(&self, user: &str) -> Option<String> {
        if !self.wildcard {
            return (user == self.dialed).then(|| self.entity.clone());
        }
        user.strip_prefix(self.dialed.as_str()).map(|rest| format!("{}{rest}", self.entity))
    }
}

/// Refuses aliases that chain: one whose result another (or itself) would map again.
pub fn check(aliases: &[UserAlias]) -> Result<(), AliasError> {
    for result in aliases {
        if aliases.iter().any(|a| a.covers_a_result_of(result)) {
            let star = if result.wildcard { "*" } else { "" };
            let (dialed, entity) = (format!("{}{star}", result.dialed), format!("{}{star}", result.entity));
            return Err(AliasError { dialed, entity, problem: "what it gives is dialled by another alias (a chain)" });
        }
    }
    Ok(())
}

/// The user part `user` stands for under `aliases`: an exact alias first, else the wildcard
/// with the longest start; `None` when none covers it. A name is mapped once: what an alias
/// gives is not looked up again, so aliases cannot chain or loop.
pub(crate) fn resolve(aliases: &[UserAlias], user: &str) -> Option<String> {
    if let Some(exact) = aliases.iter().find(|a| !a.wildcard && a.dialed == user) {
        return Some(exact.entity.clone());
    }
    let wildcards = aliases.iter().filter(|a| a.wildcard);
    wildcards
        .filter_map(|a| a.map(user).map(|mapped| (a.dialed.len(), mapped)))
        .max_by_key(|(len, _)| *len)
        .map(|(_, m)| m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_then_the_longest_start() {
        let aliases = vec![
            UserAlias::parse("70*", "park+70*").unwrap(),
            UserAlias::parse("7*", "lot+7*").unwrap(),
            UserAlias::parse("705", "queue+sales").unwrap(),
        ];
        assert_eq!(resolve(&aliases, "701").as_deref(), Some("park+701"));
        assert_eq!(resolve(&aliases, "799").as_deref(), Some("lot+799"));
        assert_eq!(resolve(&aliases, "705").as_deref(), Some("queue+sales"));
        assert_eq!(resolve(&aliases, "1001"), None);
    }

    #[test]
    fn refuses_chains() {
        let parse =
            |pairs: &[(&str, &str)]| pairs.iter().map(|(d, e)| UserAlias::parse(d, e).unwrap()).collect::<Vec<_>>();
        assert!(check(&parse(&[("70*", "park+70*"), ("8000", "queue+sales")])).is_ok());
        assert!(check(&parse(&[("8000", "9000"), ("9*", "park+9*")])).is_err());
        assert!(check(&parse(&[("7*", "70*")])).is_err(), "it maps its own results");
        assert!(check(&parse(&[("70*", "park+70*"), ("park+7011", "x")])).is_err());
        assert!(check(&parse(&[("70*", "park+70*"), ("p*", "lot+*")])).is_err());
    }

    #[test]
    fn refuses_what_is_not_a_user_part() {
        assert!(UserAlias::parse("70*", "park+70").is_err());
        assert!(UserAlias::parse("7*0", "park+7*0").is_err());
        assert!(UserAlias::parse("701@pbx", "park+701").is_err());
        assert!(UserAlias::parse("", "park").is_err());
        assert!(UserAlias::parse("701", "701").is_err());
    }
}
