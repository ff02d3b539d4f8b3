//! Users: creating, listing, changing and disabling them, resetting
//! their passwords, their sessions as an admin sees them, the first
//! administrator, and the command line's ways back in when locked out.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::items::IfMatch;
use crate::passwords;
use crate::principal::{Principal, UseCase};
use inventory_core::identity::{
    check_password, CreateUser, PasswordReset, Role, Session, User, UserPatch, UserQuery,
};
use inventory_core::paging::Page;
use inventory_core::store::{Created, EndSessions};
use inventory_core::{Error, Result, Store};
use uuid::Uuid;

/// The configuration variable the first administrator's password comes from.
pub const ADMIN_PASSWORD_VARIABLE: &str = "INVENTORY_ADMIN_PASSWORD";

/// What [`bootstrap_admin`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Bootstrap {
    /// Users exist already: nothing was done (a configured password is not used).
    UsersExist,
    /// `admin` was created with the configured password.
    Created,
    /// `admin` was created with this generated password, to show once.
    Generated(String),
}

/// Creates the user `admin` when there are no users yet, with `password`
/// or, when none is configured, a random one. A configured password must
/// pass the password policy: a weak one is a validation error naming
/// [`ADMIN_PASSWORD_VARIABLE`] (start-up stops with it).
pub async fn bootstrap_admin(store: &dyn Store, password: Option<&str>) -> Result<Bootstrap> {
    if store.count_users().await? > 0 {
        return Ok(Bootstrap::UsersExist);
    }
    let (password, generated) = match password {
        Some(p) => {
            check_password(p, &["admin"])
                .map_err(|message| Error::invalid(ADMIN_PASSWORD_VARIABLE, message))?;
            (p.to_owned(), false)
        }
        None => (passwords::random_secret(18), true),
    };
    let hash = passwords::hash_blocking(password.clone()).await?;
    let user = new_user("admin", Role::Admin);
    match store.create_user(user, &hash, None).await {
        Ok(_) => {}
        // Another process created it first.
        Err(Error::Conflict { .. }) => return Ok(Bootstrap::UsersExist),
        Err(e) => return Err(e),
    }
    Ok(if generated {
        Bootstrap::Generated(password)
    } else {
        Bootstrap::Created
    })
}

fn new_user(username: &str, role: Role) -> User {
    let (user, _) = CreateUser {
        username: username.into(),
        password: String::new(),
        role,
        display_name: None,
        email: None,
    }
    .into_user(inventory_core::now());
    user
}

/// What a command-line recovery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// Done: the one-time password to give the user (shown once; it must be
    /// changed at the first sign-in).
    OneTimePassword(String),
    /// Refused, and why, in one line.
    Refused(String),
}

/// `inventory user reset-password NAME`, on the server's database: sets a
/// one-time password that must be changed at the next sign-in and ends
/// the user's sessions. A running server that caches sessions in its own
/// process (SQLite) may accept an ended session until its cache drops it.
pub async fn reset_password(store: &dyn Store, username: &str) -> Result<Recovery> {
    let Some(record) = store.find_user(username).await? else {
        return Ok(Recovery::Refused(format!("no user is named '{username}'")));
    };
    let password = passwords::random_secret(18);
    let hash = passwords::hash_blocking(password.clone()).await?;
    store
        .set_password(record.user.id, &hash, true, EndSessions::All)
        .await?;
    Ok(Recovery::OneTimePassword(password))
}

/// `inventory user create-admin NAME`: only when no enabled administrator
/// is left, creates one with a one-time password.
pub async fn create_admin(store: &dyn Store, username: &str) -> Result<Recovery> {
    if let Err(e) = inventory_core::identity::validate_username(username) {
        return Ok(Recovery::Refused(format!("NAME {}", e.message)));
    }
    let admins = store.count_enabled_admins().await?;
    if admins > 0 {
        return Ok(Recovery::Refused(format!(
            "{admins} enabled administrator(s) exist: sign in as one, or reset one's password \
             with 'inventory user reset-password NAME'"
        )));
    }
    let password = passwords::random_secret(18);
    let hash = passwords::hash_blocking(password.clone()).await?;
    let user = new_user(username, Role::Admin);
    let id = user.id;
    match store.create_user(user, &hash, None).await {
        Ok(_) => {
            store
                .set_password(id, &hash, true, EndSessions::All)
                .await?;
            Ok(Recovery::OneTimePassword(password))
        }
        Err(Error::Conflict { detail, .. }) => Ok(Recovery::Refused(format!(
            "{detail}: choose another name, or reset its password with \
             'inventory user reset-password {username}'"
        ))),
        Err(e) => Err(e),
    }
}

impl App {
    pub async fn create_user(
        &self,
        caller: &Principal,
        input: CreateUser,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<User>> {
        self.run(caller, UseCase::CreateUser, async {
            input.validate()?;
            let (user, password) = input.into_user(inventory_core::now());
            let outcome = self
                .idempotent(caller, key, 201, json(), |idem| async move {
                    let hash = passwords::hash_blocking(password).await?;
                    let created: Result<Created<User>> =
                        self.store.create_user(user, &hash, idem).await;
                    created
                })
                .await?;
            if let Outcome::New(_) = &outcome {
                self.after_commit(Change::UserCreated).await;
            }
            Ok(outcome)
        })
        .await
    }

    /// Users by username, a page at a time, filtered.
    pub async fn list_users(&self, caller: &Principal, query: UserQuery) -> Result<Page<User>> {
        self.run(caller, UseCase::ListUsers, self.store.list_users(&query))
            .await
    }

    pub async fn get_user(&self, caller: &Principal, id: Uuid) -> Result<User> {
        self.run(caller, UseCase::GetUser, self.store.get_user(id))
            .await
    }

    /// Changes a user's role, profile or `disabled`, effective at their
    /// next request on every replica; disabling ends their sessions. The
    /// last enabled administrator stays one (`last-admin`). With
    /// `If-Match`, a user changed since is `precondition-failed`.
    pub async fn update_user(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: UserPatch,
        if_match: IfMatch,
    ) -> Result<User> {
        self.run(caller, UseCase::UpdateUser, async {
            let if_version = match if_match {
                IfMatch::Any => None,
                IfMatch::Versions(versions) => {
                    let current = self.store.get_user(id).await?;
                    if !versions.contains(&current.version()) {
                        return Err(Error::PreconditionFailed);
                    }
                    Some(current.version())
                }
            };
            self.patch_user(id, &patch, if_version).await
        })
        .await
    }

    /// Gives a user another role (the UI's form), as [`Self::update_user`].
    pub async fn change_user_role(&self, caller: &Principal, id: Uuid, role: Role) -> Result<User> {
        self.run(
            caller,
            UseCase::ChangeUserRole,
            self.patch_user(id, &UserPatch::role(role), None),
        )
        .await
    }

    async fn patch_user(
        &self,
        id: Uuid,
        patch: &UserPatch,
        if_version: Option<i64>,
    ) -> Result<User> {
        let user = self.store.update_user(id, patch, if_version).await?;
        self.after_commit(Change::UserChanged).await;
        Ok(user)
    }

    /// An admin's reset: a one-time password, returned once, that the user
    /// must change at their next sign-in; their sessions end at once.
    pub async fn reset_user_password(&self, caller: &Principal, id: Uuid) -> Result<PasswordReset> {
        self.run(caller, UseCase::ResetUserPassword, async {
            let password = passwords::random_secret(18);
            let hash = passwords::hash_blocking(password.clone()).await?;
            let user = self
                .store
                .set_password(id, &hash, true, EndSessions::All)
                .await?;
            self.after_commit(Change::UserChanged).await;
            // The new password is the way back in for a user locked out
            // by their own failed sign-ins: it is not throttled.
            let limits = crate::throttle::limits(&user.username, None);
            self.sign_in_throttle
                .succeeded(self.redis.as_ref(), &limits)
                .await;
            Ok(PasswordReset {
                user,
                one_time_password: password,
            })
        })
        .await
    }

    /// Another user's sessions (`current` marks the caller's own).
    pub async fn list_user_sessions(&self, caller: &Principal, id: Uuid) -> Result<Vec<Session>> {
        self.run(caller, UseCase::ListUserSessions, async {
            self.store.get_user(id).await?;
            let mut sessions = self.store.list_sessions(id).await?;
            for s in &mut sessions {
                s.current = s.id == caller.session_id();
            }
            Ok(sessions)
        })
        .await
    }

    /// Ends one session of a user, at once on every replica.
    pub async fn end_user_session(
        &self,
        caller: &Principal,
        id: Uuid,
        session_id: Uuid,
    ) -> Result<()> {
        self.run(
            caller,
            UseCase::EndUserSession,
            self.end_session_of(id, session_id),
        )
        .await
    }
}
