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

/// An argon2id hash of a random string, verified against when the user does not exist.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHRzb21lc2FsdA$8fVw6qfQ2v8dPM2xS7wXW6Zr1yM3n4H2c4r3mJ8Yp0o";

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
