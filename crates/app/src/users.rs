//! Users: creating them, and the first administrator.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::passwords;
use crate::principal::{Principal, UseCase};
use inventory_core::identity::{CreateUser, Role, User};
use inventory_core::paging::Page;
use inventory_core::store::Created;
use inventory_core::{Error, Result, Store};
use uuid::Uuid;

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
/// or, when none is configured, a random one.
pub async fn bootstrap_admin(store: &dyn Store, password: Option<&str>) -> Result<Bootstrap> {
    if store.count_users().await? > 0 {
        return Ok(Bootstrap::UsersExist);
    }
    let (password, generated) = match password {
        Some(p) => (p.to_owned(), false),
        None => (passwords::random_secret(18), true),
    };
    let hash = passwords::hash_blocking(password.clone()).await?;
    let (user, _) = CreateUser {
        username: "admin".into(),
        password: String::new(),
        role: Role::Admin,
    }
    .into_user(inventory_core::now());
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

    /// Users by username, a page at a time (`after`: the previous page's cursor).
    pub async fn list_users(
        &self,
        caller: &Principal,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Page<User>> {
        self.run(
            caller,
            UseCase::ListUsers,
            self.store.list_users(after, limit),
        )
        .await
    }

    /// Gives a user another role, effective at their next request on every
    /// replica; the last administrator keeps theirs.
    pub async fn change_user_role(&self, caller: &Principal, id: Uuid, role: Role) -> Result<User> {
        self.run(caller, UseCase::ChangeUserRole, async {
            let user = self.store.set_user_role(id, role).await?;
            self.after_commit(Change::UserChanged).await;
            Ok(user)
        })
        .await
    }
}
