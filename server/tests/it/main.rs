//! Integration tests: the whole HTTP stack in process (`router::app(state).oneshot`),
//! on in-memory SQLite, or on a fresh PostgreSQL database per test when
//! `GATEHOUSE_TEST_POSTGRES_URL` is set.
mod common;

mod access;
mod api;
mod cli;
mod domains;
mod forward_auth;
mod mail;
mod members;
mod methods;
mod migration;
mod observability;
mod oidc;
mod oidc_connections;
mod pages;
mod processes;
mod saml;
mod scim;
mod sessions;
mod setup_and_login;
mod sign_in_groups;
mod slo;
mod webhooks;
