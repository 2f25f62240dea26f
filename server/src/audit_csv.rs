//! `GET /w/{slug}/audit.csv`: the workspace's audit log as CSV, with the Overview page's
//! filters (`action`, `actor`, `days`). Admins only (session cookie); anyone else gets the
//! same 404 as for a page that doesn't exist. At most 100,000 rows, newest first.
use app::server::audit::{self, Filter};
use app::server::DomainError;
use app::web::AppState;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const MAX_ROWS: u64 = 100_000;
const CHUNK: u64 = 1_000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/w/{slug}/audit.csv", get(export))
}

#[derive(serde::Deserialize)]
struct Params {
    action: Option<String>,
    actor: Option<String>,
    days: Option<i64>,
}

/// One CSV field: quoted when needed, and a leading `=`, `+`, `-`, `@`, tab or CR
/// neutralised so a spreadsheet never evaluates an audit value as a formula.
fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@', '\t', '\r']) { format!("'{v}") } else { v.to_string() };
    if v.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", v.replace('"', "\"\""))
    } else {
        v
    }
}

fn line(r: &app::model::AuditEntry) -> String {
    let when = chrono::DateTime::from_timestamp(r.created_at, 0).map(|d| d.to_rfc3339()).unwrap_or_default();
    [when.as_str(), &r.actor, &r.action, &r.target, &r.details, r.source_ip.as_deref().unwrap_or("")].iter().map(|v| field(v)).collect::<Vec<_>>().join(",")
        + "\r\n"
}

async fn export(State(st): State<AppState>, Path(slug): Path<String>, Query(p): Query<Params>, headers: HeaderMap) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "Not found.").into_response();
    let viewer = match app::web::cookies::viewer_from_headers(&st.db, st.now(), &headers, st.config.secure_cookies()).await {
        Ok(Some(v)) if v.workspace_slug == slug => v,
        Ok(_) => return not_found(),
        Err(e) => return internal(e),
    };
    let Ok(cap) = viewer.admin() else { return not_found() };
    let filter = match Filter::from_query(st.now(), p.action, p.actor, p.days) {
        Ok(f) => f,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    let mut out = String::from("time,actor,action,target,details,ip\r\n");
    let mut offset = 0;
    while offset < MAX_ROWS {
        let (rows, _) = match audit::search(&st.db, cap.workspace_id(), &filter, offset, CHUNK).await {
            Ok(r) => r,
            Err(e) => return internal(e),
        };
        for r in &rows {
            out.push_str(&line(r));
        }
        if (rows.len() as u64) < CHUNK {
            break;
        }
        offset += CHUNK;
    }
    let name = format!("attachment; filename=\"gatehouse-audit-{slug}.csv\"");
    ([(header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()), (header::CONTENT_DISPOSITION, name), (header::CACHE_CONTROL, "no-store".to_string())], out)
        .into_response()
}

fn internal(e: DomainError) -> Response {
    tracing::error!(error = %e, "audit export failed");
    (StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong.").into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_quoted_and_formulas_neutralised() {
        assert_eq!(field("plain"), "plain");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(field("+1"), "'+1");
        assert_eq!(field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(field("line\nbreak"), "\"line\nbreak\"");
    }
}
