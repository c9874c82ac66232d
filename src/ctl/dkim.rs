//! `hato ctl dkim`: DKIM signing keys per domain — make one and print the
//! DNS record to publish, show it again, list, remove.

use clap::Subcommand;

use super::{CtlError, Ctx, domain_arg};
use crate::mailauth::keys;
use crate::store::DkimKey;

#[derive(Debug, Subcommand)]
pub enum DkimCmd {
    /// Make a signing key for a domain (replacing its old one) and print the TXT record to publish.
    Generate {
        domain: String,
        #[arg(long, default_value = "hato")]
        selector: String,
        /// rsa (every receiver verifies it) or ed25519 (RFC 8463; not yet everywhere).
        #[arg(long, default_value = "rsa")]
        algorithm: String,
        #[arg(long, default_value_t = 2048)]
        bits: usize,
    },
    /// Print a domain's TXT record again.
    Show { domain: String },
    /// Domains with a signing key.
    List,
    /// Stop signing a domain's mail.
    Remove { domain: String },
}

#[derive(serde::Serialize)]
struct Record {
    domain: String,
    selector: String,
    algorithm: String,
    name: String,
    value: String,
}

fn record(k: &DkimKey) -> Record {
    let (name, value) = keys::dns_record(k);
    Record { domain: k.domain.clone(), selector: k.selector.clone(), algorithm: k.algorithm.clone(), name, value }
}

fn zone_line(r: &Record) -> String {
    // A zone-file line; the value is split into 255-byte strings as DNS requires.
    let parts: Vec<String> =
        r.value.as_bytes().chunks(255).map(|c| format!("\"{}\"", String::from_utf8_lossy(c))).collect();
    format!("{} IN TXT ( {} )\n", r.name, parts.join(" "))
}

pub async fn run(ctx: &Ctx, cmd: DkimCmd) -> Result<(), CtlError> {
    match cmd {
        DkimCmd::Generate { domain, selector, algorithm, bits } => {
            let domain = domain_arg(&domain)?;
            let key =
                keys::generate(&domain, &selector, &algorithm, bits).map_err(|e| CtlError::Usage(e.to_string()))?;
            let r = record(&key);
            ctx.store.dkim_put(key).await?;
            ctx.out.show(&r, || format!("Publish this record, then mail from {domain} is signed:\n{}", zone_line(&r)));
        }
        DkimCmd::Show { domain } => {
            let domain = domain_arg(&domain)?;
            let key = ctx.store.dkim_key(domain.clone()).await?.ok_or_else(|| {
                CtlError::Usage(format!("{domain} has no DKIM key; make one with `hato ctl dkim generate {domain}`"))
            })?;
            let r = record(&key);
            ctx.out.show(&r, || zone_line(&r));
        }
        DkimCmd::List => {
            let list: Vec<Record> = ctx.store.dkim_keys().await?.iter().map(record).collect();
            ctx.out.show(&list, || {
                list.iter().map(|r| format!("{}  selector {}  {}\n", r.domain, r.selector, r.algorithm)).collect()
            });
        }
        DkimCmd::Remove { domain } => {
            let domain = domain_arg(&domain)?;
            if !ctx.store.dkim_remove(domain.clone()).await? {
                return Err(CtlError::Usage(format!("{domain} has no DKIM key")));
            }
            ctx.out.done(&format!("{domain} is no longer signed"));
        }
    }
    Ok(())
}
