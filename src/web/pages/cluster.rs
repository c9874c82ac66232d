//! The Cluster page: members and their Galera state, the service addresses
//! and whether this node holds them, deliveries per node, warnings; and,
//! on a node not yet in a cluster, the forms that make or join one (the
//! same operations as `POST /api/v1/cluster/*`).

use super::*;
use crate::web::ops::{ClusterForm, ClusterView};

pub(super) fn routes() -> Router<Arc<App>> {
    Router::new().route("/admin/cluster", get(cluster).post(cluster_action))
}

#[derive(Template)]
#[template(path = "admin_cluster.html")]
struct ClusterPage {
    f: Frame,
    v: ClusterView,
    /// A join token just made here, shown once.
    token: String,
}

async fn cluster(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Query(q): Query<NextQuery>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/cluster");
    f.notice = q.notice.unwrap_or_default();
    let v = page!(f, ops::cluster(&ctx(&app, &s, &peer)).await);
    render(ClusterPage { f, v, token: String::new() })
}

#[derive(Deserialize)]
struct ActionForm {
    /// init, join, token, vips, restart-rolling or leave.
    action: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    token: String,
    /// Service addresses, separated by commas or spaces.
    #[serde(default)]
    vips: String,
}

async fn cluster_action(
    State(app): State<Arc<App>>,
    headers: HeaderMap,
    Auth(s): Auth,
    peer: Peer,
    Form(a): Form<ActionForm>,
) -> Response {
    let mut f = Frame::new(&headers, Some(&s), "/admin/cluster");
    let c = ctx(&app, &s, &peer);
    if a.action == "token" {
        let token = page!(f, ops::cluster_token(&c).await);
        let v = page!(f, ops::cluster(&c).await);
        return render(ClusterPage { f, v, token });
    }
    if a.action == "restart-rolling" {
        page!(f, ops::cluster_restart_rolling(&c).await);
        return back("/admin/cluster", f.t("rolling_started"));
    }
    if a.action == "vips" {
        let vips = page!(f, parse_vips(&a.vips));
        page!(f, ops::cluster_vips(&c, vips).await);
        return back("/admin/cluster", f.t("vips_saved"));
    }
    if a.action == "leave" {
        let d = page!(f, ops::cluster_leave(&c).await);
        return back("/admin/cluster", &format!("{} {}", f.t("cluster_left"), d.cluster));
    }
    let form = page!(f, form(&a));
    let node = match a.action.as_str() {
        "init" => page!(f, ops::cluster_init(&c, form).await),
        "join" => page!(f, ops::cluster_join(&c, form).await),
        other => return error_page(f, WebError::BadRequest(format!("unknown cluster action `{other}`"))),
    };
    f.notice = format!("{} {} ({})", f.t("cluster_formed"), node.name, node.node_name);
    back("/admin/cluster", &f.notice)
}

/// The API's form from the page's fields, each refused with its reason.
fn form(a: &ActionForm) -> Result<ClusterForm, WebError> {
    let address = a
        .address
        .trim()
        .parse()
        .map_err(|_| WebError::BadRequest(format!("`{}` is not an IP address of this node", a.address.trim())))?;
    let vips = parse_vips(&a.vips)?;
    let opt = |s: &str| Some(s.trim().to_string()).filter(|s| !s.is_empty());
    Ok(ClusterForm { address, name: opt(&a.name), token: opt(&a.token), vips })
}

/// Service addresses separated by commas or spaces.
fn parse_vips(text: &str) -> Result<Vec<crate::cluster::vrrp::Vip>, WebError> {
    text.split([',', ' ']).filter(|v| !v.trim().is_empty()).map(|v| v.parse().map_err(WebError::BadRequest)).collect()
}
