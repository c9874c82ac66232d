//! Accounts as people see them: passwords and authentication.
//!
//! The store keeps the rows; this module owns what a password is (argon2id
//! PHC strings) and what it means to log in (exists, enabled, password right).

mod password;

use std::collections::HashMap;
use std::net::IpAddr;

use thiserror::Error;

use crate::config::LimitsConfig;
use crate::ids::Id;
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

/// What a login attempt came to.
#[derive(Debug, PartialEq)]
pub enum Login {
    /// The password was right: the account (or the built-in "admin").
    Ok(String),
    /// Wrong user or password; counted toward a lockout.
    Failed,
    /// Too many recent failures from this address or for this user: the
    /// password was not even checked.
    Locked,
}

/// A login attempt with its lockout, the same for every protocol and the web
/// console. Refused unchecked while the address is locked out
/// (`[limits] auth_failures_per_ip` failures within `auth_lockout_secs`) or
/// the address is locked out of this user (`auth_failures_per_account`);
/// otherwise `check` decides, a failure is recorded, and a success clears
/// the user's count from this address. A lockout never reaches beyond the
/// address that earned it: failures for a user from everywhere only slow
/// each attempt (`auth_slow_after`, `auth_slow_secs`), so an attacker cannot
/// lock a user out. The failures are the store's, so on a cluster a lockout
/// earned through one node holds on all.
pub async fn login(
    store: &Store,
    limits: &LimitsConfig,
    ip: IpAddr,
    user: &str,
    check: impl Future<Output = Result<Option<String>, StoreError>>,
) -> Result<Login, StoreError> {
    let ip = crate::cidr::canonical(ip).to_string();
    let now = crate::clock::now();
    let since = now - limits.auth_lockout_secs as i64;
    let seen = store.auth_failures(ip.clone(), user.to_string(), since).await?;
    if seen.ip >= limits.auth_failures_per_ip || seen.pair >= limits.auth_failures_per_account {
        return Ok(Login::Locked);
    }
    if seen.user >= limits.auth_slow_after {
        tokio::time::sleep(std::time::Duration::from_secs(limits.auth_slow_secs)).await;
    }
    match check.await? {
        Some(account) => {
            if seen.pair > 0 {
                store.auth_failures_clear(Some(ip), Some(user.to_string())).await?;
            }
            Ok(Login::Ok(account))
        }
        None => {
            store.auth_failure_add(Id::new(), ip, user.to_string(), now).await?;
            // Failures are few (a locked address or user adds none), so
            // sweeping the old ones here keeps the table small.
            store.auth_failures_expire(since).await?;
            Ok(Login::Failed)
        }
    }
}

/// What a lockout holds back.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LockoutKind {
    /// Every login from the address.
    Address,
    /// Logins to one account from the address.
    Account,
    /// Logins to one account from anywhere wait before their answer.
    Slowed,
}

/// A lockout (or slowdown) in force, for the console and `hato ctl lockouts`.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Lockout {
    pub kind: LockoutKind,
    /// Empty for `Slowed` (every address).
    pub ip: String,
    /// Empty for `Address` (every user).
    pub user: String,
    pub failures: u32,
    /// When the last failure stops counting (Unix seconds): the lockout ends by then.
    pub until: i64,
}

/// The lockouts in force now, from the store's recent failures.
pub async fn lockouts(store: &Store, limits: &LimitsConfig) -> Result<Vec<Lockout>, StoreError> {
    let since = crate::clock::now() - limits.auth_lockout_secs as i64;
    let failed = store.auth_failure_list(since).await?;
    let mut out = Vec::new();
    let mut by_ip: HashMap<&str, (u32, i64)> = HashMap::new();
    let mut by_user: HashMap<&str, (u32, i64)> = HashMap::new();
    for f in &failed {
        let e = by_ip.entry(&f.ip).or_default();
        *e = (e.0 + f.failures, e.1.max(f.last));
        if !f.user.is_empty() {
            let e = by_user.entry(&f.user).or_default();
            *e = (e.0 + f.failures, e.1.max(f.last));
            if f.failures >= limits.auth_failures_per_account {
                out.push((LockoutKind::Account, f.ip.as_str(), f.user.as_str(), f.failures, f.last));
            }
        }
    }
    for (ip, (n, last)) in by_ip {
        if n >= limits.auth_failures_per_ip {
            out.push((LockoutKind::Address, ip, "", n, last));
        }
    }
    for (user, (n, last)) in by_user {
        if n >= limits.auth_slow_after {
            out.push((LockoutKind::Slowed, "", user, n, last));
        }
    }
    let mut out: Vec<Lockout> = out
        .into_iter()
        .map(|(kind, ip, user, failures, last)| Lockout {
            kind,
            ip: ip.into(),
            user: user.into(),
            failures,
            until: last + limits.auth_lockout_secs as i64,
        })
        .collect();
    out.sort_by(|a, b| b.until.cmp(&a.until).then_with(|| (&a.ip, &a.user).cmp(&(&b.ip, &b.user))));
    Ok(out)
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

    #[tokio::test]
    async fn a_lockout_holds_back_the_address_never_the_user_elsewhere() {
        let limits = LimitsConfig {
            auth_failures_per_ip: 5,
            auth_failures_per_account: 2,
            auth_lockout_secs: 60,
            auth_slow_after: 3,
            auth_slow_secs: 0,
            ..LimitsConfig::default()
        };
        let answer = |ok: bool| async move { Ok::<_, StoreError>(ok.then(|| "u@x".to_string())) };
        for t in crate::store::tests::each_backend().await {
            let s = &t.store;
            let [a, b, c]: [IpAddr; 3] = ["192.0.2.1", "192.0.2.9", "198.51.100.7"].map(|x| x.parse().unwrap());
            let login = |ip: IpAddr, user: &'static str, ok: bool| login(s, &limits, ip, user, answer(ok));
            let kinds = || async { lockouts(s, &limits).await.unwrap() };
            assert_eq!(login(a, "u@x", false).await.unwrap(), Login::Failed);
            assert_eq!(login(a, "u@x", false).await.unwrap(), Login::Failed);
            assert_eq!(
                login(a, "u@x", true).await.unwrap(),
                Login::Locked,
                "{}: locked even with the right password",
                t.kind
            );
            assert_eq!(login(b, "u@x", true).await.unwrap(), Login::Ok("u@x".into()), "not locked from elsewhere");
            let l = kinds().await;
            assert_eq!(
                (l.len(), l[0].kind, l[0].ip.as_str(), l[0].failures),
                (1, LockoutKind::Account, "192.0.2.1", 2)
            );
            // Failures for u from everywhere pass auth_slow_after: slowed, still not locked.
            assert_eq!(login(c, "u@x", false).await.unwrap(), Login::Failed);
            assert!(kinds().await.iter().any(|l| l.kind == LockoutKind::Slowed && l.user == "u@x" && l.failures == 3));
            assert_eq!(login(c, "u@x", true).await.unwrap(), Login::Ok("u@x".into()));
            // The administrator lifts the lockout of a.
            assert_eq!(s.auth_failures_clear(Some("192.0.2.1".into()), Some("u@x".into())).await.unwrap(), 2);
            assert_eq!(login(a, "u@x", true).await.unwrap(), Login::Ok("u@x".into()));
            // A success clears the count of that user from that address.
            s.auth_failures_expire(crate::clock::now() + 1).await.unwrap();
            assert_eq!(login(a, "u@x", false).await.unwrap(), Login::Failed);
            assert_eq!(login(a, "u@x", true).await.unwrap(), Login::Ok("u@x".into()));
            assert_eq!(login(a, "u@x", false).await.unwrap(), Login::Failed, "counting starts again");
            // The address has 1 failure counted: 4 more lock it, for every account.
            for _ in 0..4 {
                assert_eq!(login(a, "", false).await.unwrap(), Login::Failed);
            }
            assert_eq!(login(a, "w@x", true).await.unwrap(), Login::Locked, "per-address lockout covers every account");
            assert!(
                kinds()
                    .await
                    .iter()
                    .any(|l| l.kind == LockoutKind::Address && l.ip == "192.0.2.1" && l.user.is_empty())
            );
        }
    }
}
