//! The OpenAPI document, generated from the handlers' annotations (so it
//! cannot drift from the routes); its error responses are derived in one
//! place, [`problems`].

mod problems;

pub use problems::{ProblemResponses, PROBLEM_JSON};

use crate::api::{system, v1};
use crate::http::error::ProblemDoc;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "Inventory Manager API", description = "Items, locations, an append-only stock ledger, reservations, sales and purchase orders, parties."),
    paths(
        system::health, system::ready,
        v1::auth::login, v1::auth::logout, v1::auth::me, v1::auth::change_password,
        v1::auth::my_sessions, v1::auth::end_my_session,
        v1::auth::create_token, v1::auth::my_tokens, v1::auth::revoke_token,
        v1::users::create_user, v1::users::list_users, v1::users::get_user,
        v1::users::patch_user, v1::users::reset_password, v1::users::list_user_sessions,
        v1::users::end_user_session,
        v1::items::create_item, v1::items::list_items, v1::items::get_item,
        v1::items::patch_item, v1::items::delete_item, v1::items::restore_item,
        v1::items::item_stock, v1::items::export_items, v1::items::import_items,
        v1::locations::create_location, v1::locations::list_locations,
        v1::locations::get_location, v1::locations::patch_location,
        v1::movements::create_movement, v1::movements::create_batch,
        v1::movements::list_movements, v1::movements::get_movement,
        v1::movements::reverse_movement, v1::movements::export_movements,
        v1::stock_counts::post_stock_count,
        v1::events::stream_events, v1::admin::invariants,
        v1::audit::list_audit, v1::audit::export_audit,
        v1::reservations::create_reservation, v1::reservations::list_reservations,
        v1::reservations::get_reservation, v1::reservations::patch_reservation,
        v1::reservations::release_reservation,
        v1::sales_orders::create_sales_order, v1::sales_orders::list_sales_orders,
        v1::sales_orders::get_sales_order, v1::sales_orders::patch_sales_order,
        v1::sales_orders::hold_sales_order, v1::sales_orders::confirm_sales_order,
        v1::sales_orders::ship_sales_order, v1::sales_orders::cancel_sales_order,
        v1::parties::create_party, v1::parties::list_parties, v1::parties::get_party,
        v1::parties::patch_party,
        v1::purchase_orders::create_purchase_order, v1::purchase_orders::list_purchase_orders,
        v1::purchase_orders::get_purchase_order, v1::purchase_orders::patch_purchase_order,
        v1::purchase_orders::submit_purchase_order, v1::purchase_orders::receive_purchase_order,
        v1::purchase_orders::cancel_purchase_order,
    ),
    components(schemas(ProblemDoc)),
    modifiers(&BearerAuth, &ProblemResponses),
    tags(
        (name = "system", description = "Health and readiness"),
        (name = "auth", description = "Signing in and out, and the signed-in user's password and sessions"),
        (name = "users", description = "Users, their passwords and sessions (admins)"),
        (name = "items", description = "Items and their stock"),
        (name = "locations", description = "Stock locations"),
        (name = "movements", description = "The stock ledger"),
        (name = "events", description = "The change feed (Server-Sent Events)"),
        (name = "reservations", description = "Stock held for someone, with exact expiry"),
        (name = "sales-orders", description = "Carts and sales orders: hold, confirm, ship, cancel"),
        (name = "admin", description = "Checking the database, and the audit trail"),
        (name = "parties", description = "Suppliers and customers"),
        (name = "purchase-orders", description = "Buying stock: drafts, submission, receipts"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            components.add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
        }
    }
}
