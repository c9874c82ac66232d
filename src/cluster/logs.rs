//! Log search and message trace over every member: the console asks its own
//! node's recent lines and, over the node API, every other member's, and
//! shows them merged by time, each line naming its node. A member that does
//! not answer within a few seconds is named in the answer, not waited for.

use std::net::IpAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::ClusterError;
use super::api::{Member, Request};
use super::node::Dir;
use crate::logs::recent::{self, Line, Search};

/// How long a member's lines are waited for.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Clone, Debug, Deserialize, Serialize)]
pub enum Question {
    Search(Search),
    /// A Message-ID or an address (`recent::trace`).
    Trace(String),
}

#[derive(Debug, Deserialize, Serialize)]
pub struct LogsRequest {
    /// The member asked (the proof is bound to it).
    pub address: IpAddr,
    pub proof: String,
    pub question: Question,
}

#[derive(Debug, Deserialize, Serialize)]
pub struct Lines {
    pub lines: Vec<Line>,
}

/// Lines from every member, newest first, with the members that did not answer.
#[derive(Debug, Default, Serialize)]
pub struct Merged {
    pub lines: Vec<Line>,
    pub unanswered: Vec<String>,
}

impl Merged {
    /// The lines, with a warning line first for each member that did not
    /// answer, so a gap in the view is never silent.
    pub fn into_lines(self) -> Vec<Line> {
        let now = crate::clock::now() * 1000;
        let mut out: Vec<Line> = self
            .unanswered
            .into_iter()
            .map(|why| Line {
                node: why.split(':').next().unwrap_or_default().to_string(),
                at: now,
                level: "WARN".into(),
                target: "hato::cluster".into(),
                message: format!("this member's lines are missing: {why}"),
                fields: String::new(),
            })
            .collect();
        out.extend(self.lines);
        out
    }
}

fn answer(q: &Question) -> Vec<Line> {
    match q {
        Question::Search(s) => recent::search(s),
        Question::Trace(term) => recent::trace(term),
    }
}

/// A member's side: its own recent lines.
pub(super) fn lines(member: &Member, req: &LogsRequest) -> Result<Lines, ClusterError> {
    super::api::check_proof(&member.dir, "logs", req.address, &req.proof)?;
    Ok(Lines { lines: answer(&req.question) })
}

/// This node's lines and, when it is a member of a cluster, every other member's.
pub async fn ask_all(dir: &Dir, q: Question) -> Merged {
    let mut merged = Merged { lines: answer(&q), unanswered: Vec::new() };
    let Ok(node) = dir.load() else { return merged };
    let Ok(caller) = super::api::Caller::of(dir) else { return merged };
    let asks: Vec<_> = node
        .peers()
        .map(|p| {
            let req = Request::Logs(LogsRequest { address: p, proof: caller.proof("logs", p), question: q.clone() });
            let (api, fingerprint) = (super::api::addr_of(&node, p), caller.fingerprint.clone());
            (
                p,
                tokio::spawn(async move {
                    tokio::time::timeout(ASK_TIMEOUT, super::api::call::<Lines>(api, &fingerprint, &req)).await
                }),
            )
        })
        .collect();
    for (p, ask) in asks {
        match ask.await {
            Ok(Ok(Ok(got))) => {
                merged.lines.extend(got.lines.into_iter().map(|mut l| {
                    l.node = p.to_string();
                    l
                }));
            }
            Ok(Ok(Err(e))) => merged.unanswered.push(format!("{p}: {e}")),
            Ok(Err(_)) => merged.unanswered.push(format!("{p}: no answer within {} s", ASK_TIMEOUT.as_secs())),
            Err(e) => merged.unanswered.push(format!("{p}: {e}")),
        }
    }
    match q {
        // A trace reads oldest first, a search newest first.
        Question::Trace(_) => merged.lines.sort_by_key(|l| l.at),
        Question::Search(s) => {
            merged.lines.sort_by_key(|l| std::cmp::Reverse(l.at));
            merged.lines.truncate(s.limit.unwrap_or(500).min(recent::CAPACITY));
        }
    }
    merged
}
