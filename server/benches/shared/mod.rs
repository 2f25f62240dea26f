//! What the benchmarks that run the real `gatehouse` binary share: starting it (and
//! stopping it when dropped), a free port, waiting for `/readyz`, and a fresh PostgreSQL
//! database. Included by `soak` and `scim` with `mod shared;`.
#![allow(dead_code)] // each bench uses its own part

use std::process::{Child, Command, Stdio};
use std::time::Duration;

use app::server::db;
use sea_orm::{ConnectionTrait, DatabaseConnection};

/// The server the bench talks to when `GATEHOUSE_BENCH_POSTGRES_URL` (or the soak's
/// `GATEHOUSE_SOAK_POSTGRES_URL`) doesn't name another: the local cluster `scripts/bench.sh`
/// starts.
pub const LOCAL_POSTGRES: &str = "postgres://postgres:postgres@127.0.0.1:5432/postgres";

/// A `gatehouse serve` process, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `gatehouse serve` on `url`, listening on `port`, with `public` as its public URL
/// and `extra` settings.
pub fn serve(url: &str, port: u16, public: &str, extra: &[(&str, &str)]) -> Proc {
    Proc(
        Command::new(env!("CARGO_BIN_EXE_gatehouse"))
            .arg("serve")
            .env_clear()
            .envs(extra.iter().copied())
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEHOUSE_DATABASE_URL", url)
            .env("GATEHOUSE_LISTEN", format!("127.0.0.1:{port}"))
            .env("GATEHOUSE_PUBLIC_URL", public)
            .env("GATEHOUSE_LOG", "warn")
            .env("LEPTOS_OUTPUT_NAME", "gatehouse")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn gatehouse"),
    )
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).expect("port")
}

/// Waits up to 30 s for `base`'s `/readyz`.
pub async fn ready(http: &reqwest::Client, base: &str) {
    for _ in 0..300 {
        if http.get(format!("{base}/readyz")).send().await.is_ok_and(|r| r.status() == 200) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{base} never became ready");
}

/// Creates database `name` on the server of `admin_url`; returns its URL and the admin
/// connection (to drop it afterwards with [`drop_database`]).
pub async fn fresh_database(admin_url: &str, name: &str) -> Result<(String, DatabaseConnection), String> {
    let admin = db::connect(admin_url, 1).await.map_err(|e| format!("{admin_url}: {e}"))?;
    drop_leftovers(&admin, name).await;
    admin.execute_unprepared(&format!("CREATE DATABASE {name}")).await.map_err(|e| format!("create database {name}: {e}"))?;
    let base = admin_url.rsplit_once('/').map(|(b, _)| b).ok_or("the PostgreSQL URL has no database part")?;
    Ok((format!("{base}/{name}"), admin))
}

/// Databases an earlier run of the same bench made and didn't drop (it panicked or was
/// killed): named like `name` with another process id. Dropped before a new one is made,
/// so aborted runs don't pile up on the server.
async fn drop_leftovers(admin: &DatabaseConnection, name: &str) {
    use sea_orm::Statement;
    let Some((stem, _pid)) = name.rsplit_once('_') else { return };
    let ours = format!("_{}", std::process::id());
    let like =
        Statement::from_sql_and_values(sea_orm::DbBackend::Postgres, "SELECT datname FROM pg_database WHERE datname LIKE $1", [format!("{stem}\\_%").into()]);
    let Ok(rows) = admin.query_all_raw(like).await else { return };
    for row in rows {
        let Ok(found) = row.try_get::<String>("", "datname") else { continue };
        // Only `{stem}_{digits}` (another run), never this run's own or a longer stem's.
        let rest = &found[stem.len() + 1..];
        if !found.ends_with(&ours) && !rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()) {
            drop_database(admin, &found).await;
        }
    }
}

pub async fn drop_database(admin: &DatabaseConnection, name: &str) {
    let _ = admin.execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
}
