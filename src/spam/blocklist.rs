//! DNS blocklists: the client's address against DNSBL zones (RFC 5782), the
//! domains of links against URIBL zones. A listing is an A record in
//! 127.0.0.0/8; anything else — no answer, a timeout, an error — counts as
//! not listed, so a slow or broken list never holds mail (the caller asks
//! within the transaction's DNS budget).

use std::net::IpAddr;

use mail_auth::hickory_resolver::proto::rr::RData;
use tokio::task::JoinSet;

use super::Hit;
use crate::dns::TokioResolver;

/// A name to look up and the hit its listing gives.
pub struct Query {
    pub name: String,
    pub hit: Hit,
}

/// The name to look up for `ip` in `zone`: reversed octets (IPv4) or nibbles (IPv6).
pub fn query_name(ip: IpAddr, zone: &str) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.{zone}.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            format!("{s}{zone}.")
        }
    }
}

/// Asks all `queries` at once; each list's hit counts once, however many
/// of its names are listed.
pub async fn ask(resolver: TokioResolver, queries: Vec<Query>) -> Vec<Hit> {
    let mut lookups = JoinSet::new();
    for q in queries {
        let resolver = resolver.clone();
        lookups.spawn(async move { listed(&resolver, &q.name).await.then_some(q.hit) });
    }
    let mut hits: Vec<Hit> = Vec::new();
    while let Some(done) = lookups.join_next().await {
        if let Ok(Some(hit)) = done
            && !hits.iter().any(|h| h.name == hit.name)
        {
            hits.push(hit);
        }
    }
    hits.sort_by(|a, b| a.name.cmp(&b.name));
    hits
}

/// Whether `name` has an A record in 127.0.0.0/8 (a listing).
async fn listed(resolver: &TokioResolver, name: &str) -> bool {
    match resolver.ipv4_lookup(name).await {
        Ok(answer) => answer.answers().iter().any(|r| matches!(&r.data, RData::A(a) if a.0.octets()[0] == 127)),
        Err(_) => false,
    }
}

/// Addresses that are never looked up: loopback and private ones say nothing.
pub fn worth_asking(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !(v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.is_unspecified()),
        IpAddr::V6(v6) => !(v6.is_loopback() || v6.is_unspecified() || (v6.segments()[0] & 0xfe00) == 0xfc00),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_names_follow_rfc5782() {
        assert_eq!(query_name("192.0.2.99".parse().unwrap(), "bl.example"), "99.2.0.192.bl.example.");
        let v6 = query_name("2001:db8:1:2:3:4:567:89ab".parse().unwrap(), "bl.example");
        assert_eq!(v6, "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example.");
        assert!(!worth_asking("127.0.0.1".parse().unwrap()) && !worth_asking("10.1.2.3".parse().unwrap()));
        assert!(worth_asking("192.0.2.1".parse().unwrap()));
    }
}
