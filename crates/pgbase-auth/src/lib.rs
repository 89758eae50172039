//! pgbase auth: who a request is, and the Supabase Auth (GoTrue) compatible endpoints.
//!
//! - [`jwt`]: [`Authenticator`] turns request headers (`Authorization: Bearer`, `apikey`) into
//!   an [`AuthContext`] (database role + claims), with PostgREST's JWT rules and errors.
//! - [`gotrue`]: the `/auth/v1` router ([`router`], [`AuthState`], [`AuthConfig`]): sign-up,
//!   password sign-in, refresh-token rotation, user, logout, settings, health and admin users,
//!   over the `auth` schema of `sql/0002_auth.sql`, with per-client-address rate limits
//!   ([`IpCidr`] names trusted proxies) and bcrypt kept off the connection pool.

pub mod gotrue;
pub mod jwt;

pub use gotrue::{AuthConfig, AuthState, CidrError, GoTrueError, IpCidr, router};
pub use jwt::{
    ApiKey, AuthContext, AuthError, Authenticator, JwksSource, JwtConfig, JwtConfigError,
    RoleFilter,
};
