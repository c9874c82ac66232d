//! One ACME conversation (RFC 8555 §7): account, order, http-01
//! authorizations, finalization with a CSR, and the certificate. Every POST
//! carries a fresh nonce; a `badNonce` refusal is retried with the new one
//! the server sent (§6.5), as servers may refuse any nonce.

use std::time::Duration;

use serde_json::{Value, json};
use tokio_rustls::TlsConnector;

use super::AcmeError;
use super::jws::{AccountKey, b64};
use crate::https::{self, Response, Target};

const LIMIT: usize = 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(30);
/// How long an authorization or the order may stay pending.
const PATIENCE: Duration = Duration::from_secs(120);

pub struct Client<'a> {
    tls: &'a TlsConnector,
    key: &'a AccountKey,
    directory: Value,
    nonce: Option<String>,
    kid: Option<String>,
}

/// What a new certificate is: its chain and private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    pub key_pem: String,
}

impl<'a> Client<'a> {
    pub async fn connect(
        tls: &'a TlsConnector,
        key: &'a AccountKey,
        directory_url: &str,
    ) -> Result<Client<'a>, AcmeError> {
        let r = send(tls, "GET", directory_url, None).await?;
        let directory: Value = json_of(directory_url, &r)?;
        Ok(Client { tls, key, directory, nonce: None, kid: None })
    }

    fn endpoint(&self, name: &str) -> Result<String, AcmeError> {
        self.directory[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| AcmeError::Protocol(format!("the directory names no {name}")))
    }

    async fn fresh_nonce(&mut self) -> Result<String, AcmeError> {
        if let Some(n) = self.nonce.take() {
            return Ok(n);
        }
        let url = self.endpoint("newNonce")?;
        let r = send(self.tls, "HEAD", &url, None).await?;
        r.header("replay-nonce").map(str::to_string).ok_or_else(|| AcmeError::Protocol("no Replay-Nonce".into()))
    }

    /// A signed POST (`payload` None: POST-as-GET), retried on badNonce.
    async fn post(&mut self, url: &str, payload: Option<&Value>) -> Result<Response, AcmeError> {
        for _ in 0..5 {
            let nonce = self.fresh_nonce().await?;
            let body = self.key.sign(url, &nonce, self.kid.as_deref(), payload)?;
            let r = send(self.tls, "POST", url, Some(("application/jose+json", &body))).await?;
            self.nonce = r.header("replay-nonce").map(str::to_string);
            if r.status >= 400 {
                let problem: Value = serde_json::from_slice(&r.body).unwrap_or_default();
                if problem["type"] == "urn:ietf:params:acme:error:badNonce" {
                    continue;
                }
                return Err(AcmeError::Refused {
                    url: url.into(),
                    status: r.status,
                    detail: problem["detail"].as_str().unwrap_or("no detail").to_string(),
                });
            }
            return Ok(r);
        }
        Err(AcmeError::Protocol(format!("{url} refused five nonces in a row")))
    }

    /// Registers the account (or finds it: the same key gives the same account).
    pub async fn account(&mut self, contact: Option<&str>) -> Result<(), AcmeError> {
        let url = self.endpoint("newAccount")?;
        let mut payload = json!({ "termsOfServiceAgreed": true });
        if let Some(c) = contact {
            payload["contact"] = json!([format!("mailto:{c}")]);
        }
        let r = self.post(&url, Some(&payload)).await?;
        let kid = r.header("location").ok_or_else(|| AcmeError::Protocol("no account URL".into()))?;
        self.kid = Some(kid.to_string());
        Ok(())
    }

    /// Orders a certificate for `domains`; `publish(token, key_authorization)`
    /// makes each http-01 answer reachable before the server is asked to look.
    pub async fn order<F, Fut>(&mut self, domains: &[String], publish: F) -> Result<Issued, AcmeError>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), AcmeError>>,
    {
        let url = self.endpoint("newOrder")?;
        let ids: Vec<Value> = domains.iter().map(|d| json!({ "type": "dns", "value": d })).collect();
        let r = self.post(&url, Some(&json!({ "identifiers": ids }))).await?;
        let order_url = r.header("location").ok_or_else(|| AcmeError::Protocol("no order URL".into()))?.to_string();
        let order: Value = json_of(&url, &r)?;
        for authz in order["authorizations"].as_array().cloned().unwrap_or_default() {
            let authz = authz.as_str().ok_or_else(|| AcmeError::Protocol("bad authorization URL".into()))?;
            self.authorize(authz, &publish).await?;
        }
        let finalize = order["finalize"].as_str().ok_or_else(|| AcmeError::Protocol("no finalize URL".into()))?;
        let key = rcgen::KeyPair::generate().map_err(|e| AcmeError::Key(e.to_string()))?;
        let csr = rcgen::CertificateParams::new(domains.to_vec())
            .and_then(|p| p.serialize_request(&key))
            .map_err(|e| AcmeError::Key(format!("cannot make the certificate request: {e}")))?;
        self.post(finalize, Some(&json!({ "csr": b64(csr.der()) }))).await?;
        let done = self.wait(&order_url, "order").await?;
        let cert_url = done["certificate"].as_str().ok_or_else(|| AcmeError::Protocol("no certificate URL".into()))?;
        let cert = self.post(cert_url, None).await?;
        let cert_pem = String::from_utf8(cert.body).map_err(|_| AcmeError::Protocol("certificate not PEM".into()))?;
        Ok(Issued { cert_pem, key_pem: key.serialize_pem() })
    }

    async fn authorize<F, Fut>(&mut self, url: &str, publish: &F) -> Result<(), AcmeError>
    where
        F: Fn(String, String) -> Fut,
        Fut: std::future::Future<Output = Result<(), AcmeError>>,
    {
        let r = self.post(url, None).await?;
        let authz: Value = json_of(url, &r)?;
        if authz["status"] == "valid" {
            return Ok(());
        }
        let challenge = authz["challenges"]
            .as_array()
            .and_then(|c| c.iter().find(|c| c["type"] == "http-01"))
            .ok_or_else(|| AcmeError::Protocol(format!("{url} offers no http-01 challenge")))?;
        let (Some(token), Some(challenge_url)) = (challenge["token"].as_str(), challenge["url"].as_str()) else {
            return Err(AcmeError::Protocol("a challenge without token or URL".into()));
        };
        publish(token.to_string(), format!("{token}.{}", self.key.thumbprint())).await?;
        self.post(challenge_url, Some(&json!({}))).await?;
        self.wait(url, "authorization").await.map(|_| ())
    }

    /// Polls `url` until its status is final; the object when it is valid.
    async fn wait(&mut self, url: &str, what: &str) -> Result<Value, AcmeError> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let r = self.post(url, None).await?;
            let v: Value = json_of(url, &r)?;
            match v["status"].as_str() {
                Some("valid") => return Ok(v),
                Some("invalid") => {
                    let why = v["challenges"]
                        .as_array()
                        .and_then(|c| c.iter().find_map(|c| c["error"]["detail"].as_str()))
                        .or(v["error"]["detail"].as_str())
                        .unwrap_or("no reason given");
                    return Err(AcmeError::Invalid { what: what.into(), why: why.into() });
                }
                _ if tokio::time::Instant::now() > deadline => {
                    return Err(AcmeError::Protocol(format!("the {what} stayed pending")));
                }
                _ => tokio::time::sleep(Duration::from_secs(1)).await,
            }
        }
    }
}

async fn send(tls: &TlsConnector, method: &str, url: &str, body: Option<(&str, &[u8])>) -> Result<Response, AcmeError> {
    let target = Target::parse(url)?;
    Ok(https::request(tls, None, method, &target, body, LIMIT, TIMEOUT).await?)
}

fn json_of(url: &str, r: &Response) -> Result<Value, AcmeError> {
    serde_json::from_slice(&r.body).map_err(|e| AcmeError::Protocol(format!("{url} did not answer JSON: {e}")))
}
