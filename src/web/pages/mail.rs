//! WebMail's pages: folders and lists, reading, composing (reply, forward,
//! drafts), actions on a message, vacation and filter settings.

use super::*;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new()
        .route("/mail", get(mail))
        .route("/mail/read", get(read))
        .route("/mail/attachment", get(attachment))
        .route("/mail/action", post(action))
        .route("/mail/compose", get(compose).post(send))
        .route("/mail/settings", get(settings).post(save_settings))
        .route("/mail/filter", post(save_filter))
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MailQuery {
    folder: Option<String>,
    uid: Option<i64>,
    page: Option<usize>,
    sort: Option<String>,
    q: Option<String>,
    images: Option<String>,
    index: Option<usize>,
    notice: Option<String>,
    reply: Option<String>,
    forward: Option<String>,
    all: Option<String>,
    draft: Option<String>,
}

#[derive(Template)]
#[template(path = "mail.html")]
struct MailPage {
    f: Frame,
    folders: Vec<Folder>,
    listing: Listing,
    sort: String,
    q: String,
    /// The Drafts folder: its messages open in the editor.
    drafts: bool,
}

async fn mail(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<MailQuery>,
) -> Response {
    let folder = q.folder.clone().unwrap_or_else(|| "INBOX".into());
    let mut f = Frame::new(&headers, Some(&s), &format!("/mail?folder={folder}"));
    f.notice = q.notice.clone().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let folders = page!(f, ops::folders(&c).await);
    let sort = q.sort.clone().unwrap_or_else(|| "newest".into());
    let query = q.q.clone().unwrap_or_default();
    let listing = page!(f, ops::list(&c, &folder, q.page.unwrap_or(1), &sort, &query).await);
    let drafts = folders.iter().any(|b| b.name == folder && b.special_use.as_deref() == Some("\\Drafts"));
    render(MailPage { f, folders, listing, sort, q: query, drafts })
}

async fn read(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<MailQuery>,
) -> Response {
    let folder = q.folder.clone().unwrap_or_else(|| "INBOX".into());
    let uid = q.uid.unwrap_or(0);
    let f = Frame::new(&headers, Some(&s), &format!("/mail/read?folder={folder}&uid={uid}"));
    let c = ctx(&app, &s, &peer);
    let images = q.images.is_some();
    let m = page!(f, ops::read(&c, &folder, uid, images).await);
    let folders = page!(f, ops::folders(&c).await);
    message_page(MessagePage { f, m, folder, uid, folders, images, held: false })
}

async fn attachment(State(app): State<Arc<App>>, Auth(s): Auth, peer: Peer, Query(q): Query<MailQuery>) -> Response {
    let c = ctx(&app, &s, &peer);
    match ops::attachment(&c, q.folder.as_deref().unwrap_or("INBOX"), q.uid.unwrap_or(0), q.index.unwrap_or(0)).await {
        Ok((name, bytes)) => crate::web::api::download(&name, bytes),
        Err(e) => e.into_response(),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct MailAction {
    folder: String,
    uid: i64,
    op: String,
    to: String,
}

async fn action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<MailAction>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail");
    let c = ctx(&app, &s, &peer);
    let list = format!("/mail?folder={}", crate::web::urlencode(&a.folder));
    let here = format!("/mail/read?folder={}&uid={}", crate::web::urlencode(&a.folder), a.uid);
    let (result, to) = match a.op.as_str() {
        "delete" => (ops::delete_message(&c, &a.folder, a.uid).await, list),
        "move" => (ops::move_message(&c, &a.folder, a.uid, &a.to).await, list),
        "spam" => (ops::mark_spam(&c, &a.folder, a.uid, true).await, list),
        "notspam" => (ops::mark_spam(&c, &a.folder, a.uid, false).await, list),
        "flag" => (ops::set_flags(&c, &a.folder, a.uid, &["\\Flagged"], &[]).await, here),
        "unflag" => (ops::set_flags(&c, &a.folder, a.uid, &[], &["\\Flagged"]).await, here),
        "unread" => (ops::set_flags(&c, &a.folder, a.uid, &[], &["\\Seen"]).await, list),
        other => (Err(WebError::BadRequest(format!("unknown action {other}"))), list),
    };
    page!(f, result);
    back(&to, "")
}

#[derive(Template)]
#[template(path = "compose.html")]
struct ComposePage {
    f: Frame,
    to: String,
    cc: String,
    subject: String,
    body: String,
    in_reply_to: String,
    references: String,
    forward_of: String,
    draft_of: String,
}

fn quote(text: &str) -> String {
    text.lines().map(|l| format!("> {l}")).collect::<Vec<_>>().join("\n")
}

async fn compose(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<MailQuery>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/compose");
    let c = ctx(&app, &s, &peer);
    let mut p = ComposePage {
        f,
        to: String::new(),
        cc: String::new(),
        subject: String::new(),
        body: String::new(),
        in_reply_to: String::new(),
        references: String::new(),
        forward_of: String::new(),
        draft_of: String::new(),
    };
    if let Some((folder, uid)) = q
        .draft
        .as_deref()
        .and_then(|d| d.rsplit_once(':'))
        .and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?)))
    {
        let m = page!(p.f, ops::read(&c, &folder, uid, false).await);
        p.to = m.to_addrs.join(", ");
        p.cc = m.cc_addrs.join(", ");
        p.subject = m.subject;
        p.body = m.text;
        p.draft_of = format!("{folder}:{uid}");
        return render(p);
    }
    let source = q
        .reply
        .as_ref()
        .or(q.forward.as_ref())
        .and_then(|r| r.rsplit_once(':'))
        .and_then(|(folder, uid)| Some((folder.to_string(), uid.parse::<i64>().ok()?)));
    if let Some((folder, uid)) = source {
        let m = page!(p.f, ops::read(&c, &folder, uid, false).await);
        let date = p.f.opt_date(&m.date);
        if q.forward.is_some() {
            p.subject = if m.subject.to_lowercase().starts_with("fwd:") {
                m.subject.clone()
            } else {
                format!("Fwd: {}", m.subject)
            };
            p.body = format!(
                "\n\n---------- Forwarded message ----------\nFrom: {}\nDate: {date}\nSubject: {}\nTo: {}\n\n{}",
                m.from, m.subject, m.to, m.text
            );
            p.forward_of = format!("{folder}:{uid}");
        } else {
            p.subject = if m.subject.to_lowercase().starts_with("re:") {
                m.subject.clone()
            } else {
                format!("Re: {}", m.subject)
            };
            p.to = m.reply_to.clone();
            if q.all.is_some() {
                let others: Vec<String> = m
                    .to_addrs
                    .iter()
                    .chain(&m.cc_addrs)
                    .filter(|a| !a.eq_ignore_ascii_case(&s.user) && !a.eq_ignore_ascii_case(&m.reply_to))
                    .cloned()
                    .collect();
                p.cc = others.join(", ");
            }
            p.body = format!("\n\n{date}, {}:\n{}", m.from, quote(&m.text));
            p.in_reply_to = m.message_id.clone();
            p.references = m.references.clone();
        }
    }
    render(p)
}

/// The compose form: multipart, so files come along.
async fn send(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    mut form: Multipart,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/compose");
    let mut fields: HashMap<String, String> = HashMap::new();
    let mut attachments = Vec::new();
    loop {
        let field = match form.next_field().await {
            Ok(Some(x)) => x,
            Ok(None) => break,
            Err(e) => return error_page(f, WebError::BadRequest(format!("the form could not be read: {e}"))),
        };
        let name = field.name().unwrap_or("").to_string();
        if name == "files" {
            let file = field.file_name().unwrap_or("attachment").to_string();
            let ctype = field.content_type().unwrap_or("application/octet-stream").to_string();
            let bytes = page!(f, field.bytes().await.map_err(|e| WebError::BadRequest(format!("{file}: {e}"))));
            if !bytes.is_empty() {
                attachments.push((file, ctype, bytes.to_vec()));
            }
        } else {
            let text = page!(f, field.text().await.map_err(|e| WebError::BadRequest(e.to_string())));
            fields.insert(name, text);
        }
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    if let Some((folder, uid)) =
        get("forward_of").rsplit_once(':').and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?)))
    {
        // The forwarded message goes along whole, as an attachment.
        let m = page!(f, ops::read(&c, &folder, uid, false).await);
        let raw = page!(f, app.store.contents(s.user.clone(), folder, vec![uid]).await.map_err(WebError::from));
        if let Some(crate::store::MessageData { data: bytes, .. }) = raw.into_iter().next() {
            attachments.push((
                format!(
                    "{}.eml",
                    m.subject.chars().filter(|c| c.is_alphanumeric() || *c == ' ').take(40).collect::<String>().trim()
                ),
                "message/rfc822".into(),
                bytes,
            ));
        }
    }
    let d = Draft {
        to: page!(f, address_list(&get("to")).map_err(WebError::BadRequest)),
        cc: page!(f, address_list(&get("cc")).map_err(WebError::BadRequest)),
        subject: get("subject"),
        body: get("body"),
        in_reply_to: get("in_reply_to"),
        references: get("references"),
        attachments,
        ..Draft::default()
    };
    let old_draft = get("draft_of").rsplit_once(':').and_then(|(fo, u)| Some((fo.to_string(), u.parse::<i64>().ok()?)));
    let saving = get("do") == "draft";
    if saving {
        page!(f, ops::save_draft(&c, d).await);
    } else {
        page!(f, ops::send(&c, d).await);
    }
    // The draft this came from is replaced by the new draft, or done with once sent.
    if let Some((folder, uid)) = old_draft {
        page!(f, ops::discard_draft(&c, &folder, uid).await);
    }
    if saving { back("/mail?folder=Drafts", f.t("draft_saved")) } else { back("/mail", f.t("sent_ok")) }
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    f: Frame,
    on: bool,
    subject: String,
    body: String,
    days: u32,
    filter: String,
    filter_error: String,
}

async fn settings(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/mail/settings");
    f.notice = q.notice.unwrap_or_default();
    let c = ctx(&app, &s, &peer);
    let v = page!(f, ops::vacation(&c).await);
    let filter = page!(f, ops::my_filter(&c).await);
    let (on, subject, body, days) = match v {
        Some(v) => (true, v.subject, v.body, v.days),
        None => (false, String::new(), String::new(), 7),
    };
    render(SettingsPage { f, on, subject, body, days, filter, filter_error: String::new() })
}

#[derive(Deserialize)]
struct FilterForm {
    script: String,
}

async fn save_filter(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(fl): Form<FilterForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/settings");
    let c = ctx(&app, &s, &peer);
    match ops::set_my_filter(&c, &fl.script).await {
        Ok(()) => back("/mail/settings", f.t("rules_saved")),
        Err(WebError::BadRequest(error)) => {
            let v = page!(f, ops::vacation(&c).await);
            let (on, subject, body, days) =
                v.map(|v| (true, v.subject, v.body, v.days)).unwrap_or((false, String::new(), String::new(), 7));
            (
                StatusCode::BAD_REQUEST,
                render(SettingsPage { f, on, subject, body, days, filter: fl.script, filter_error: error }),
            )
                .into_response()
        }
        Err(e) => error_page(f, e),
    }
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct VacationForm {
    on: Option<String>,
    subject: String,
    body: String,
    days: Option<u32>,
}

async fn save_settings(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(v): Form<VacationForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/mail/settings");
    let vacation = v.on.is_some().then(|| crate::vacation::Vacation {
        subject: v.subject,
        body: v.body,
        days: v.days.unwrap_or(7).max(1),
    });
    page!(f, ops::set_vacation(&ctx(&app, &s, &peer), vacation).await);
    back("/mail/settings", f.t("save"))
}
