//! The directory: accounts, memberships, groups and invites, the rows that say who is in a
//! workspace. Every path that changes them (members, workspaces, SAML and OIDC sign-in,
//! SCIM, the CLI) goes through these functions, so a rule such as "Everyone holds every
//! active member" or "the last active admin stays" has one home. The directory depends on
//! no sign-in protocol and no page; they depend on it.
pub mod accounts;
pub mod groups;
pub mod invites;
pub mod memberships;
pub mod names;

pub use accounts::drop_identity_links;
pub(in crate::server) use accounts::with_accounts;
pub(in crate::server) use accounts::{account_by_email, find_or_create_account};
pub(in crate::server) use groups::editable_group;
pub(in crate::server) use groups::insert_group;
pub use groups::{group_size, EVERYONE};
pub use invites::{create_invite, INVITE_LIFETIME_SECS};
pub use memberships::{active_admin_count, lock_for_admin_change, validate_role};
pub(in crate::server) use memberships::{add_membership, deactivate_in, membership_of, reactivate_in};
pub use names::{validate_name, validate_slug};
