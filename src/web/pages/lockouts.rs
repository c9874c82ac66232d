//! The Lockouts page: addresses and accounts held back after failed logins,
//! and accounts whose logins are slowed, each with a button that lifts it
//! (the same operations as `/api/v1/lockouts`).

use super::*;

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/admin/lockouts", get(lockouts).post(lift))
}

#[derive(Template)]
#[template(path = "admin_lockouts.html")]
struct LockoutsPage {
    f: Frame,
    list: Vec<crate::directory::Lockout>,
}

async fn lockouts(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/lockouts");
    f.notice = q.notice.unwrap_or_default();
    let list = page!(f, ops::lockouts(&ctx(&app, &s, &peer)).await);
    render(LockoutsPage { f, list })
}

#[derive(Deserialize)]
struct LiftForm {
    #[serde(default)]
    ip: String,
    #[serde(default)]
    user: String,
}

async fn lift(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(l): Form<LiftForm>,
) -> Response {
    let f = Frame::new(&headers, Some(&s), "/admin/lockouts");
    page!(f, ops::clear_lockout(&ctx(&app, &s, &peer), &l.ip, &l.user).await);
    back("/admin/lockouts", f.t("lockout_lifted"))
}
