//! Certificates for the appliance from an ACME CA (RFC 8555): `[acme]`
//! names the CA and the domains; `run` looks at the certificate in use every
//! `check_interval_secs` and orders a new one when it is not from ACME for
//! exactly those domains or has fewer than `renew_days` left. The http-01
//! answers are saved in the store, so whichever node the CA reaches on port
//! 80 (`web::http`) can give them; the certificate obtained is put in force
//! at once (`tls::Certificates::replace`) and, on a cluster member, shared
//! with the others like one uploaded in the console.
//! A failure raises the `acme` alert (log, SNMP trap) and is retried at the
//! next look; the certificate in use stays until a new one is in hand.
//! Invariant: the certificate in use is replaced only by a complete,
//! loadable chain and key.

mod client;
mod jws;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;

use crate::config::Config;
use crate::store::{Store, StoreError};
use crate::tls::Certificates;

#[derive(Debug, Error)]
pub enum AcmeError {
    #[error("cannot use {path}: {message}")]
    File { path: PathBuf, message: String },
    #[error("ACME key: {0}")]
    Key(String),
    #[error(transparent)]
    Https(#[from] crate::https::HttpsError),
    #[error("the ACME server refused {url} ({status}): {detail}")]
    Refused { url: String, status: u16, detail: String },
    #[error("the ACME {what} failed: {why}; check that each domain's address reaches this server on port 80")]
    Invalid { what: String, why: String },
    #[error("the ACME server's answer makes no sense: {0}")]
    Protocol(String),
    #[error("cannot save the http-01 answer: {0}")]
    Store(#[from] StoreError),
    #[error("the new certificate was not taken: {0}")]
    Install(String),
}

/// The store's name for the answer to the http-01 challenge `token`.
fn answer_name(token: &str) -> String {
    format!("acme.http-01.{token}")
}

/// The key authorization for `token`, if this cluster is waiting to be asked for it.
pub async fn challenge_answer(store: &Store, token: &str) -> Option<String> {
    let name = answer_name(token);
    let items = store.shared_items().await.ok()?;
    let item = items.into_iter().find(|i| i.name == name)?;
    String::from_utf8(item.value).ok().filter(|v| !v.is_empty())
}

/// What the renewal loop works with.
pub struct Acme {
    pub cfg: Arc<Config>,
    pub store: Arc<Store>,
    pub certs: Arc<Certificates>,
    /// This node's part in what a cluster shares, when it is a member.
    pub share: Option<crate::cluster::shared::Local>,
}

/// Runs for the life of `hato serve` when `[acme] directory` is set.
pub async fn run(acme: Acme) {
    let every = Duration::from_secs(acme.cfg.acme.check_interval_secs.max(1));
    loop {
        match acme.renew_if_due().await {
            Ok(false) => {}
            Ok(true) => crate::alert::clear("acme"),
            Err(e) => {
                crate::alert::raise("acme", crate::alert::Severity::Warning, &format!("ACME renewal failed: {e}"))
            }
        }
        tokio::time::sleep(every).await;
    }
}

impl Acme {
    fn dir(&self) -> PathBuf {
        self.cfg.data_dir.join("acme")
    }

    /// Whether the certificate in use is due: not ACME's for these domains, or expiring.
    fn due(&self) -> bool {
        let wanted = self.cfg.acme.domains.join(" ");
        let issued_for = std::fs::read_to_string(self.dir().join("issued-for")).unwrap_or_default();
        let Some(expires) = std::fs::read(self.certs.cert_path()).ok().and_then(|pem| crate::tls::not_after(&pem))
        else {
            return true;
        };
        let left_days = (expires - crate::clock::now()) / 86_400;
        issued_for.trim() != wanted || left_days < i64::from(self.cfg.acme.renew_days)
    }

    /// Orders and installs a certificate when one is due; true if it did.
    async fn renew_if_due(&self) -> Result<bool, AcmeError> {
        if !self.due() {
            return Ok(false);
        }
        let a = &self.cfg.acme;
        tracing::info!(target: "hato::acme", directory = %a.directory, domains = %a.domains.join(" "), "ordering a certificate");
        let roots = crate::tls::client_roots(a.ca_file.as_deref()).map_err(|e| AcmeError::Key(e.to_string()))?;
        let tls = crate::smtp::client::Connectors::new(roots).verified();
        let key = jws::AccountKey::load_or_create(&self.dir().join("account.pk8"))?;
        let mut client = client::Client::connect(&tls, &key, &a.directory).await?;
        client.account(a.contact.as_deref()).await?;
        let node = Store::node_name(&self.cfg);
        let publish = |token: String, answer: String| {
            let (store, node) = (self.store.clone(), node.clone());
            async move {
                store.shared_put(answer_name(&token), answer.into_bytes(), node).await?;
                Ok(())
            }
        };
        let issued = client.order(&a.domains, publish).await?;
        self.install(&issued.cert_pem, &issued.key_pem).await?;
        let expires = crate::tls::not_after(issued.cert_pem.as_bytes()).unwrap_or_default();
        tracing::info!(
            target: "hato::acme",
            domains = %a.domains.join(" "),
            sha256 = %self.certs.fingerprint(),
            expires = %crate::clock::rfc5322(expires),
            "certificate obtained and in force"
        );
        Ok(true)
    }

    async fn install(&self, cert_pem: &str, key_pem: &str) -> Result<(), AcmeError> {
        self.certs.replace(cert_pem.as_bytes(), key_pem.as_bytes()).map_err(|e| AcmeError::Install(e.to_string()))?;
        let marker = self.dir().join("issued-for");
        std::fs::write(&marker, self.cfg.acme.domains.join(" "))
            .map_err(|e| AcmeError::File { path: marker, message: e.to_string() })?;
        if let Some(share) = &self.share {
            share.publish_certificate(cert_pem, key_pem).await.map_err(|e| AcmeError::Install(e.to_string()))?;
        }
        Ok(())
    }
}
