//! Virtual Reception (`two_stage_dialing`): the number a caller enters becomes the alias of the
//! meeting they are put through to. The reception's `match_string` (a regular expression that
//! must match the whole number) and `replace_string` (Python-style `\1` references) rewrite it
//! first; with no `match_string` the number is the alias. Pure.

use regex::Regex;

use crate::policy::local::python_replacement;

/// The alias to look up for `entered`, or `None` when the reception's `match_string` does not
/// match it (the number is not one this reception takes).
pub fn dialled_alias(match_string: &str, replace_string: &str, entered: &str) -> Option<String> {
    let entered = entered.trim().trim_end_matches('#');
    if entered.is_empty() {
        return None;
    }
    if match_string.is_empty() {
        return Some(entered.to_string());
    }
    // Validated when saved; a pattern that no longer compiles matches nothing.
    let re = Regex::new(&format!("^(?:{match_string})$")).ok()?;
    if !re.is_match(entered) {
        return None;
    }
    if replace_string.is_empty() {
        return Some(entered.to_string());
    }
    Some(re.replace(entered, python_replacement(replace_string).as_str()).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_become_aliases() {
        assert_eq!(dialled_alias("", "", "1234#").as_deref(), Some("1234"));
        assert_eq!(dialled_alias(r"(\d{4})", r"meet.\1", "4321").as_deref(), Some("meet.4321"));
        assert_eq!(dialled_alias(r"(\d{4})", r"meet.\1", "43210"), None, "the whole number must match");
        assert_eq!(dialled_alias(r"\d+", "", "77").as_deref(), Some("77"));
        assert_eq!(dialled_alias("", "", " # "), None);
        assert_eq!(dialled_alias("(", "", "1"), None);
    }
}
