//! Parsing of what clients send. Each function returns the clean value or an INVALID_ARGUMENT
//! that says what was wrong; once parsed, a value is valid everywhere.

use crate::error::LogicError;

pub const MAX_CONTENT_BYTES: usize = 64 * 1024;
pub const MAX_METADATA_ENTRIES: usize = 32;
pub const MAX_METADATA_BYTES: usize = 8 * 1024;
pub const MAX_CLIENT_MSG_ID: usize = 64;
pub const MAX_GROUP_NAME: usize = 64;
pub const DEFAULT_MAX_MEMBERS: i32 = 10_000;
pub const MAX_DEVICE_ID: usize = 64;

/// `local@domain`, at most 254 characters, stored lower-cased.
pub fn email(raw: &str) -> Result<String, LogicError> {
    let email = raw.trim().to_lowercase();
    let valid = email.len() <= 254
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        })
        && !email.chars().any(|c| c.is_whitespace() || c.is_control());
    if valid {
        Ok(email)
    } else {
        Err(LogicError::invalid(
            "email must look like local@domain (at most 254 characters)",
        ))
    }
}

/// 8 to 128 characters.
pub fn password(raw: &str) -> Result<(), LogicError> {
    match raw.chars().count() {
        8..=128 => Ok(()),
        _ => Err(LogicError::invalid("password must be 8 to 128 characters")),
    }
}

/// `^[a-z0-9_]{3,20}$`.
pub fn nickname(raw: &str) -> Result<String, LogicError> {
    let ok = (3..=20).contains(&raw.len())
        && raw
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err(LogicError::invalid(
            "nickname must be 3 to 20 characters of a-z, 0-9 and _",
        ))
    }
}

/// A free label for a device, at most 64 characters.
pub fn device_id(raw: Option<&str>) -> Result<String, LogicError> {
    let id = raw.unwrap_or_default();
    no_nul(id, "device_id")?;
    if id.chars().count() > MAX_DEVICE_ID {
        return Err(LogicError::invalid(
            "device_id must be at most 64 characters",
        ));
    }
    Ok(id.to_owned())
}

/// An id the client passed (conversation, user): non-empty and of sane length.
pub fn id<'a>(raw: &'a str, what: &'static str) -> Result<&'a str, LogicError> {
    if raw.is_empty() || raw.len() > 64 {
        return Err(LogicError::invalid(format!("{what} is required")));
    }
    no_nul(raw, what)?;
    Ok(raw)
}

/// Text that is stored refuses U+0000: JSON allows it in a string, but PostgreSQL's text
/// cannot hold it (its insert failed, a 500) while SQLite stored it, so both backends refuse
/// it here, the same way, before anything is stored.
pub fn no_nul(raw: &str, what: &str) -> Result<(), LogicError> {
    if raw.contains('\0') {
        return Err(LogicError::invalid(format!(
            "{what} must not contain the NUL character (U+0000)"
        )));
    }
    Ok(())
}

pub fn group_name(raw: &str) -> Result<String, LogicError> {
    no_nul(raw, "group name")?;
    let name = raw.trim();
    if name.is_empty() || name.chars().count() > MAX_GROUP_NAME {
        return Err(LogicError::invalid("group name must be 1 to 64 characters"));
    }
    Ok(name.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_checked_and_lower_cased() {
        assert_eq!(email(" Ann@Example.ORG ").unwrap(), "ann@example.org");
        for bad in [
            "",
            "ann",
            "@x.org",
            "ann@",
            "a@b@c",
            "a b@c.d",
            &format!("{}@x.org", "a".repeat(250)),
        ] {
            assert!(email(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn nicknames_follow_the_pattern() {
        assert!(nickname("ann_99").is_ok());
        for bad in ["an", "Ann", "ann-b", "a".repeat(21).as_str(), "ann b"] {
            assert!(nickname(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn passwords_are_8_to_128_characters() {
        assert!(password("1234567").is_err());
        assert!(password("12345678").is_ok());
        assert!(password(&"x".repeat(128)).is_ok());
        assert!(password(&"x".repeat(129)).is_err());
    }
}
