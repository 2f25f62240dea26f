//! The web edge of the server: what HTTP and Leptos need around the domain (`server`).
//! The application state handed to handlers and server functions, the session cookie,
//! the client's address behind proxies, the Content-Security-Policy and the same-origin
//! rule for writes. The domain imports nothing from here.
pub mod cookies;
pub mod http_security;
pub mod state;

pub use state::AppState;
