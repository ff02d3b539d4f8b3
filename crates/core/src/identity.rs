//! Users, their roles and permissions (defined in [`crate::access`]), the
//! password policy, and sessions as their owner sees them.

pub use crate::access::{AccessPolicy, Permission, Role, Scope};
use crate::error::{Error, FieldError, Result};
use crate::validation::{blank_is_none, check_email, check_text, finish};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A user as the API shows them: never a password or its hash.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct User {
    pub id: Uuid,
    pub username: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// A disabled user cannot sign in and has no sessions.
    pub disabled: bool,
    /// Set by a password reset: until the user changes their password
    /// (`POST /api/v1/me/password`), every other request is refused.
    pub must_change_password: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A user as stored, with the argon2id PHC string of the password.
#[derive(Debug, Clone)]
pub struct UserRecord {
    pub user: User,
    pub password_hash: String,
}

/// `POST /api/v1/users` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    pub username: String,
    pub password: String,
    pub role: Role,
    pub display_name: Option<String>,
    pub email: Option<String>,
}

/// `PATCH /api/v1/users/{id}` body (a merge patch: an absent field is kept,
/// `null` or `""` clears `display_name` and `email`).
#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserPatch {
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<Role>)]
    pub role: Option<Option<Role>>,
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<String>)]
    pub display_name: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<String>)]
    pub email: Option<Option<String>>,
    #[serde(default, deserialize_with = "crate::patch::double_option")]
    #[schema(value_type = Option<bool>)]
    pub disabled: Option<Option<bool>>,
}

/// A user list's filters and page (`after`: the last username of the
/// previous page; users are listed by username).
#[derive(Debug, Clone, Default)]
pub struct UserQuery {
    /// Case-insensitive part of the username, display name or email.
    pub q: Option<String>,
    pub role: Option<Role>,
    pub disabled: Option<bool>,
    pub after: Option<String>,
    pub limit: u32,
}

impl UserQuery {
    /// Whether `user` passes the filters (the stores filter in SQL; this is
    /// the rule they are judged against).
    pub fn matches(&self, user: &User) -> bool {
        let found = |q: &str| {
            let q = q.to_lowercase();
            [
                Some(&user.username),
                user.display_name.as_ref(),
                user.email.as_ref(),
            ]
            .into_iter()
            .flatten()
            .any(|text| text.to_lowercase().contains(&q))
        };
        self.q.as_deref().is_none_or(found)
            && self.role.is_none_or(|r| r == user.role)
            && self.disabled.is_none_or(|d| d == user.disabled)
    }
}

/// What an admin's `POST /api/v1/users/{id}/password` answers: the
/// one-time password, shown once.
#[derive(Debug, Serialize, ToSchema)]
pub struct PasswordReset {
    pub user: User,
    /// Give it to the user: it works once, for signing in and changing it.
    pub one_time_password: String,
}

/// `POST /api/v1/me/password` body.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangePassword {
    pub current_password: String,
    pub new_password: String,
}

impl std::fmt::Debug for ChangePassword {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ChangePassword { .. }")
    }
}

/// A session as its owner (or an admin) sees it; never its token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct Session {
    pub id: Uuid,
    pub created_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub expires_at: DateTime<Utc>,
    pub client_addr: Option<String>,
    pub user_agent: Option<String>,
    /// Whether this is the session of the request that listed it.
    pub current: bool,
}

/// Where a sign-in came from, recorded with its session.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionClient {
    pub addr: Option<String>,
    pub user_agent: Option<String>,
}

impl SessionClient {
    /// Keeps at most 64 characters of the address and 256 of the user
    /// agent, without control characters.
    pub fn new(addr: Option<String>, user_agent: Option<String>) -> Self {
        let clean = |s: Option<String>, max: usize| {
            s.map(|s| {
                s.chars()
                    .filter(|c| !c.is_control())
                    .take(max)
                    .collect::<String>()
            })
            .filter(|s| !s.is_empty())
        };
        Self {
            addr: clean(addr, 64),
            user_agent: clean(user_agent, 256),
        }
    }
}

/// The session behind a token, as the store finds it.
#[derive(Debug, Clone)]
pub struct SessionRecord {
    pub id: Uuid,
    pub user: User,
    pub expires_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
    /// For an API token: what it is limited to; `None` for a sign-in session.
    pub scopes: Option<Vec<Scope>>,
}

/// The prefix of every API token's secret, so that secret scanners can
/// recognise a leaked one.
pub const API_TOKEN_PREFIX: &str = "inv_pat_";
/// The longest an API token may live, and how long it lives unless asked.
pub const API_TOKEN_MAX_DAYS: i64 = 366;
pub const API_TOKEN_DEFAULT_DAYS: i64 = 90;

/// An API token as its owner sees it; the secret is shown once, at creation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ApiToken {
    pub id: Uuid,
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Updated at most once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A new token with its secret, which is shown this once.
#[derive(Debug, Serialize, ToSchema)]
pub struct ApiTokenSecret {
    #[serde(flatten)]
    pub token: ApiToken,
    /// The bearer token (`inv_pat_…`): copy it now; only its hash is kept,
    /// so it cannot be shown again.
    pub secret: String,
}

/// `POST /api/v1/me/tokens` body.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiToken {
    /// What it is for (1-100 characters), to tell tokens apart.
    pub name: String,
    /// One or more of `read`, `stock:write`, `orders:write`,
    /// `catalog:write`, `users:admin`.
    #[schema(value_type = Vec<String>)]
    pub scopes: Vec<String>,
    /// When it stops working (RFC 3339, in the future, within 366 days);
    /// 90 days from now when left out.
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// A valid token request, for the store.
#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub name: String,
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

impl CreateApiToken {
    /// Checks the request for a token of a user with `role`: each scope
    /// must be known and of use to that role (a viewer's `orders:write`
    /// token could do nothing).
    pub fn validate(
        self,
        role: Role,
        policy: AccessPolicy,
        now: DateTime<Utc>,
    ) -> crate::error::Result<NewApiToken> {
        use crate::error::FieldError;
        let mut errors = Vec::new();
        let name = self.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > 100 {
            errors.push(FieldError::new("name", "must be 1 to 100 characters"));
        }
        let mut scopes = Vec::new();
        if self.scopes.is_empty() {
            errors.push(FieldError::new(
                "scopes",
                "name at least one of read, stock:write, orders:write, catalog:write, users:admin",
            ));
        }
        for (i, given) in self.scopes.iter().enumerate() {
            match Scope::parse(given.trim()) {
                None => errors.push(FieldError::new(
                    format!("scopes[{i}]"),
                    format!(
                        "'{given}' is not a scope: use read, stock:write, orders:write, \
                         catalog:write or users:admin"
                    ),
                )),
                Some(scope) if !scope.useful_to(role, policy) => errors.push(FieldError::new(
                    format!("scopes[{i}]"),
                    format!(
                        "your role ({}) grants nothing under {}",
                        role.as_str(),
                        scope.as_str()
                    ),
                )),
                Some(scope) if !scopes.contains(&scope) => scopes.push(scope),
                Some(_) => {}
            }
        }
        scopes.sort();
        let expires_at = self
            .expires_at
            .unwrap_or(now + chrono::Duration::days(API_TOKEN_DEFAULT_DAYS));
        if expires_at <= now {
            errors.push(FieldError::new("expires_at", "must be in the future"));
        } else if expires_at > now + chrono::Duration::days(API_TOKEN_MAX_DAYS) {
            errors.push(FieldError::new(
                "expires_at",
                format!("must be within {API_TOKEN_MAX_DAYS} days; make a new token then"),
            ));
        }
        if !errors.is_empty() {
            return Err(crate::error::Error::Validation(errors));
        }
        Ok(NewApiToken {
            name,
            scopes,
            created_at: now,
            expires_at,
        })
    }
}

/// Scopes as the store keeps them: space-separated.
pub fn scopes_to_text(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(|s| s.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The store's text back into scopes (unknown words are dropped: a token
/// never gains a scope it was not given).
pub fn scopes_from_text(text: &str) -> Vec<Scope> {
    text.split_whitespace().filter_map(Scope::parse).collect()
}

/// The least length of a password.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// The least zxcvbn score (0-4) of a password.
pub const MIN_PASSWORD_SCORE: u8 = 3;

/// The password policy: 12-1024 characters, and a zxcvbn strength score of
/// at least 3 of 4 (offline; `inputs` are words the estimator should count
/// as guessable, such as the username). The message says why a password is
/// refused: too short, or the estimator's warning and suggestion.
pub fn check_password(password: &str, inputs: &[&str]) -> std::result::Result<(), String> {
    let len = password.chars().count();
    if len < MIN_PASSWORD_CHARS {
        return Err(format!(
            "is too short: use at least {MIN_PASSWORD_CHARS} characters (it has {len}); \
             a few unrelated words make a strong one"
        ));
    }
    if len > 1024 {
        return Err("must be at most 1024 characters".into());
    }
    let estimate = zxcvbn::zxcvbn(password, inputs);
    let score = u8::from(estimate.score());
    if score >= MIN_PASSWORD_SCORE {
        return Ok(());
    }
    let mut message = format!(
        "is too easy to guess (strength {score} of 4, at least {MIN_PASSWORD_SCORE} needed):"
    );
    let feedback = estimate.feedback();
    let warning = feedback.and_then(|f| f.warning()).map(|w| w.to_string());
    let suggestions = feedback
        .map(|f| {
            f.suggestions()
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    for part in warning.into_iter().chain(suggestions) {
        message.push(' ');
        message.push_str(part.trim());
    }
    if !message.ends_with('.') {
        message.push_str(" Add another word or two.");
    }
    Err(message)
}

/// [`check_password`] for a user's password, counting their username,
/// display name and email as guessable.
pub fn check_user_password(
    password: &str,
    username: &str,
    display_name: Option<&str>,
    email: Option<&str>,
) -> std::result::Result<(), String> {
    let guessable: Vec<&str> = [Some(username), display_name, email]
        .into_iter()
        .flatten()
        .collect();
    check_password(password, &guessable)
}

pub fn validate_username(username: &str) -> Result<(), FieldError> {
    let ok = (1..=64).contains(&username.chars().count())
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "username",
            "must be 1-64 characters of letters, digits, '.', '_', '-' or '@'",
        ))
    }
}

/// Checks a display name and an email, as they are stored.
fn check_profile(
    errors: &mut Vec<FieldError>,
    display_name: &Option<String>,
    email: &Option<String>,
) {
    if let Some(name) = display_name {
        check_text(errors, "display_name", name, 1, 200);
    }
    if let Some(email) = email {
        check_email(errors, "email", email);
    }
}

impl CreateUser {
    pub fn validate(&self) -> Result<()> {
        let mut errors = Vec::new();
        if let Err(e) = validate_username(&self.username) {
            errors.push(e);
        }
        if let Err(message) = check_user_password(
            &self.password,
            &self.username,
            self.display_name.as_deref(),
            self.email.as_deref(),
        ) {
            errors.push(FieldError::new("password", message));
        }
        check_profile(
            &mut errors,
            &blank_is_none(self.display_name.clone()),
            &blank_is_none(self.email.clone()),
        );
        finish(errors)
    }

    /// The user to store, created now, and the password to hash.
    pub fn into_user(self, now: DateTime<Utc>) -> (User, String) {
        let user = User {
            id: Uuid::now_v7(),
            username: self.username,
            role: self.role,
            display_name: blank_is_none(self.display_name),
            email: blank_is_none(self.email),
            disabled: false,
            must_change_password: false,
            created_at: now,
            updated_at: now,
        };
        (user, self.password)
    }
}

impl UserPatch {
    /// A patch that changes only the role.
    pub fn role(role: Role) -> Self {
        Self {
            role: Some(Some(role)),
            ..Self::default()
        }
    }

    /// The user after the patch. Whether the last enabled administrator
    /// would be lost is the store's to decide, in its transaction
    /// ([`User::is_enabled_admin`]).
    pub fn apply(&self, user: &User, now: DateTime<Utc>) -> Result<User> {
        let mut next = user.clone();
        let mut errors = Vec::new();
        match self.role {
            Some(Some(role)) => next.role = role,
            Some(None) => errors.push(FieldError::new("role", "cannot be null")),
            None => {}
        }
        match self.disabled {
            Some(Some(disabled)) => next.disabled = disabled,
            Some(None) => errors.push(FieldError::new("disabled", "cannot be null")),
            None => {}
        }
        if let Some(name) = &self.display_name {
            next.display_name = blank_is_none(name.clone());
        }
        if let Some(email) = &self.email {
            next.email = blank_is_none(email.clone());
        }
        check_profile(&mut errors, &next.display_name, &next.email);
        finish(errors)?;
        if next != *user {
            next.updated_at = now;
        }
        Ok(next)
    }
}

impl User {
    /// Its version for conditional requests: `updated_at` in microseconds,
    /// which every change of the user (a patch, a password) moves.
    pub fn version(&self) -> i64 {
        self.updated_at.timestamp_micros()
    }

    /// Its `ETag`: the [`Self::version`], quoted.
    pub fn etag(&self) -> String {
        format!("\"{}\"", self.version())
    }

    /// `PreconditionFailed` unless `if_version` (from `If-Match`) is absent
    /// or this user's version.
    pub fn check_version(&self, if_version: Option<i64>) -> Result<()> {
        match if_version {
            Some(v) if v != self.version() => Err(Error::PreconditionFailed),
            _ => Ok(()),
        }
    }

    /// An administrator who may sign in: the kind of which one must remain.
    pub fn is_enabled_admin(&self) -> bool {
        self.role == Role::Admin && !self.disabled
    }

    /// The refusal of a change that would leave no enabled administrator
    /// (`enabled_admins`: how many there are now, this user among them).
    pub fn check_last_admin(&self, next: &User, enabled_admins: i64) -> Result<()> {
        if self.is_enabled_admin() && !next.is_enabled_admin() && enabled_admins <= 1 {
            return Err(Error::last_admin(&self.username));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_grant_what_the_table_says_and_nothing_below_it() {
        for permission in Permission::ALL {
            for role in Role::ALL {
                assert_eq!(role.grants(permission), role >= permission.min_role());
            }
            assert!(Role::Admin.grants(permission), "admin may do everything");
        }
        assert!(!Role::Viewer.grants(Permission::StockMove));
        assert!(Role::Clerk.grants(Permission::StockMove));
        assert!(!Role::Clerk.grants(Permission::ItemsWrite));
        assert!(!Role::Manager.grants(Permission::UsersManage));
    }

    #[test]
    fn the_password_policy_says_why_it_refuses() {
        let short = check_password("Tr0ub4dor&3", &[]).unwrap_err();
        assert!(short.contains("too short"), "{short}");
        let weak = check_password("password1234", &[]).unwrap_err();
        assert!(weak.contains("too easy to guess"), "{weak}");
        let named = check_password("dana-dana-dana-dana", &["dana"]).unwrap_err();
        assert!(named.contains("too easy to guess"), "{named}");
        assert!(check_password("correct horse battery staple", &[]).is_ok());
        assert!(check_password(&"x".repeat(1025), &[]).is_err());
    }

    fn user(role: Role) -> User {
        let (user, _) = CreateUser {
            username: "ann".into(),
            password: String::new(),
            role,
            display_name: Some("  Ann  ".into()),
            email: None,
        }
        .into_user(crate::now());
        user
    }

    #[test]
    fn a_patch_changes_what_it_names_and_keeps_one_enabled_admin() {
        let admin = user(Role::Admin);
        assert_eq!(admin.display_name.as_deref(), Some("Ann"));
        let patch: UserPatch =
            serde_json::from_value(serde_json::json!({"display_name": null, "disabled": true}))
                .unwrap();
        let next = patch.apply(&admin, crate::now()).unwrap();
        assert_eq!(
            (next.display_name, next.disabled, next.role),
            (None, true, Role::Admin)
        );
        let disabled = patch.apply(&admin, crate::now()).unwrap();
        assert!(admin.check_last_admin(&disabled, 1).is_err());
        assert!(admin.check_last_admin(&disabled, 2).is_ok());
        let demoted = UserPatch::role(Role::Viewer)
            .apply(&admin, crate::now())
            .unwrap();
        assert!(admin.check_last_admin(&demoted, 1).is_err());
        for bad in [
            serde_json::json!({"email": "nope"}),
            serde_json::json!({"role": null}),
            serde_json::json!({"disabled": null}),
        ] {
            let bad: UserPatch = serde_json::from_value(bad).unwrap();
            assert!(bad.apply(&admin, crate::now()).is_err());
        }
    }

    #[test]
    fn filters_match_username_display_name_and_email() {
        let ann = user(Role::Clerk);
        let q = |q: &str| UserQuery {
            q: Some(q.into()),
            ..UserQuery::default()
        };
        assert!(q("AN").matches(&ann));
        assert!(!q("bob").matches(&ann));
        let by_role = UserQuery {
            role: Some(Role::Admin),
            ..UserQuery::default()
        };
        assert!(!by_role.matches(&ann));
    }
}
