//! Accounts as people see them: passwords and authentication.
//!
//! The store keeps the rows; this module owns what a password is (argon2id
//! PHC strings) and what it means to log in (exists, enabled, password right).

mod password;

use thiserror::Error;

use crate::store::{Store, StoreError};

#[derive(Debug, Error)]
pub enum DirectoryError {
    #[error("cannot hash the password: {0}")]
    Hash(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub fn hash_password(password: &str) -> Result<String, DirectoryError> {
    password::hash(password).map_err(DirectoryError::Hash)
}

/// Checks a password against a stored argon2 hash (the built-in web administrator's).
pub async fn verify_hash(user: &str, password: &str, phc: &str) -> bool {
    password::verify(user, password, phc).await
}

/// Checks a login. Returns the account address on success. Argon2 is slow on
/// purpose, so it runs off the async threads; an unknown user costs the same
/// as a wrong password, so timing does not reveal which accounts exist.
pub async fn authenticate(store: &Store, user: &str, password: &str) -> Result<Option<String>, StoreError> {
    let address = user.trim().to_lowercase();
    let account = store.account(address.clone()).await?;
    let (hash, enabled) = match &account {
        Some(a) => (a.password_hash.clone(), a.enabled),
        None => (DUMMY_HASH.to_string(), false),
    };
    let ok = password::verify(&address, password, &hash).await;
    Ok((ok && enabled && account.is_some()).then_some(address))
}

/// One-time submission passwords for WebMail: the web console (in the same
/// process) sends a user's message through the submission port like any mail
/// client, authenticating with a token it was just given instead of the
/// password it never keeps. A token works once, for one account, within a
/// minute, and only for SMTP AUTH on submission.
pub mod tokens {
    use std::collections::HashMap;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    const PREFIX: &str = "hato-web-token.";
    static TOKENS: Mutex<Option<HashMap<String, (String, Instant)>>> = Mutex::new(None);

    pub fn issue(account: &str) -> String {
        let token = format!("{PREFIX}{}", crate::ids::token(40));
        let mut map = TOKENS.lock().unwrap_or_else(|p| p.into_inner());
        let map = map.get_or_insert_with(HashMap::new);
        map.retain(|_, (_, at)| at.elapsed() < Duration::from_secs(60));
        map.insert(token.clone(), (account.to_string(), Instant::now()));
        token
    }

    /// True (and the token is spent) when `password` is a live token for `account`.
    pub fn redeem(account: &str, password: &str) -> bool {
        if !password.starts_with(PREFIX) {
            return false;
        }
        let mut map = TOKENS.lock().unwrap_or_else(|p| p.into_inner());
        match map.as_mut().and_then(|m| m.remove(password)) {
            Some((who, at)) => who == account && at.elapsed() < Duration::from_secs(60),
            None => false,
        }
    }

    #[cfg(test)]
    mod tests {
        #[test]
        fn a_token_works_once_for_its_account() {
            let t = super::issue("a@x.test");
            assert!(!super::redeem("b@x.test", &t), "another account");
            let t = super::issue("a@x.test");
            assert!(super::redeem("a@x.test", &t));
            assert!(!super::redeem("a@x.test", &t), "spent");
            assert!(!super::redeem("a@x.test", "hato-web-token.guess"));
        }
    }
}

/// An argon2id hash of a random string, verified against when the user does not exist.
const DUMMY_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8fVw6qfQ2v8dPM2xS7wXW6Zr1yM3n4H2c4r3mJ8Yp0o";

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_and_verify() {
        let h = hash_password("secret 日本").unwrap();
        assert!(password::verify("u", "secret 日本", &h).await);
        assert!(!password::verify("u", "Secret 日本", &h).await);
        assert!(
            argon2::password_hash::PasswordHash::new(DUMMY_HASH).is_ok(),
            "the dummy hash must parse so an unknown user costs a real check"
        );
    }
}
