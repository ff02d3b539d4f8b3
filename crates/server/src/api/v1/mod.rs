//! `/api/v1`: one module per resource. [`ROUTES`] names the use case each
//! route calls, so that the permission table (`inventory_app::UseCase`) can
//! be checked against the router and the OpenAPI document's 403s derived
//! from it.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod events;
pub mod items;
pub mod locations;
pub mod movements;
pub mod parties;
pub mod purchase_orders;
pub mod reservations;
pub mod sales_orders;
pub mod stock_counts;
pub mod users;

use axum::routing::{delete, get, post};
use axum::Router;
use inventory_app::{App, UseCase};

/// Every API route: method, path template, and the use case it calls.
pub const ROUTES: &[(&str, &str, UseCase)] = &[
    ("POST", "/api/v1/auth/login", UseCase::Login),
    ("POST", "/api/v1/auth/logout", UseCase::Logout),
    ("GET", "/api/v1/me", UseCase::Me),
    ("GET", "/api/v1/me/sessions", UseCase::ListMySessions),
    ("DELETE", "/api/v1/me/sessions/{id}", UseCase::EndMySession),
    ("POST", "/api/v1/me/password", UseCase::ChangeOwnPassword),
    ("POST", "/api/v1/me/tokens", UseCase::CreateApiToken),
    ("GET", "/api/v1/me/tokens", UseCase::ListApiTokens),
    ("DELETE", "/api/v1/me/tokens/{id}", UseCase::RevokeApiToken),
    ("POST", "/api/v1/users", UseCase::CreateUser),
    ("GET", "/api/v1/users", UseCase::ListUsers),
    ("GET", "/api/v1/users/{id}", UseCase::GetUser),
    ("PATCH", "/api/v1/users/{id}", UseCase::UpdateUser),
    (
        "GET",
        "/api/v1/users/{id}/sessions",
        UseCase::ListUserSessions,
    ),
    (
        "DELETE",
        "/api/v1/users/{id}/sessions/{session_id}",
        UseCase::EndUserSession,
    ),
    (
        "POST",
        "/api/v1/users/{id}/password",
        UseCase::ResetUserPassword,
    ),
    ("POST", "/api/v1/items", UseCase::CreateItem),
    ("GET", "/api/v1/items", UseCase::ListItems),
    ("GET", "/api/v1/items/export.csv", UseCase::ExportItems),
    ("POST", "/api/v1/items/import", UseCase::ImportItems),
    ("GET", "/api/v1/items/{id}", UseCase::GetItem),
    ("PATCH", "/api/v1/items/{id}", UseCase::UpdateItem),
    ("DELETE", "/api/v1/items/{id}", UseCase::ArchiveItem),
    ("POST", "/api/v1/items/{id}/restore", UseCase::RestoreItem),
    ("GET", "/api/v1/items/{id}/stock", UseCase::ItemStock),
    ("POST", "/api/v1/locations", UseCase::CreateLocation),
    ("GET", "/api/v1/locations", UseCase::ListLocations),
    (
        "GET",
        "/api/v1/locations/{id_or_code}",
        UseCase::GetLocation,
    ),
    (
        "PATCH",
        "/api/v1/locations/{id_or_code}",
        UseCase::UpdateLocation,
    ),
    ("POST", "/api/v1/movements", UseCase::RecordMovement),
    ("GET", "/api/v1/movements", UseCase::ListMovements),
    (
        "GET",
        "/api/v1/movements/export.csv",
        UseCase::ExportMovements,
    ),
    ("POST", "/api/v1/movements/batch", UseCase::RecordMovements),
    ("GET", "/api/v1/movements/{id}", UseCase::GetMovement),
    (
        "POST",
        "/api/v1/movements/{id}/reverse",
        UseCase::ReverseMovement,
    ),
    ("POST", "/api/v1/stock-counts", UseCase::PostStockCount),
    ("GET", "/api/v1/events", UseCase::FollowEvents),
    ("GET", "/api/v1/admin/invariants", UseCase::CheckInvariants),
    ("GET", "/api/v1/audit", UseCase::ListAudit),
    ("GET", "/api/v1/audit/export.csv", UseCase::ListAudit),
    ("POST", "/api/v1/reservations", UseCase::CreateReservation),
    ("GET", "/api/v1/reservations", UseCase::ListReservations),
    ("GET", "/api/v1/reservations/{id}", UseCase::GetReservation),
    (
        "PATCH",
        "/api/v1/reservations/{id}",
        UseCase::UpdateReservation,
    ),
    (
        "DELETE",
        "/api/v1/reservations/{id}",
        UseCase::ReleaseReservation,
    ),
    ("POST", "/api/v1/sales-orders", UseCase::CreateSalesOrder),
    ("GET", "/api/v1/sales-orders", UseCase::ListSalesOrders),
    ("GET", "/api/v1/sales-orders/{id}", UseCase::GetSalesOrder),
    (
        "PATCH",
        "/api/v1/sales-orders/{id}",
        UseCase::UpdateSalesOrder,
    ),
    (
        "POST",
        "/api/v1/sales-orders/{id}/hold",
        UseCase::HoldSalesOrder,
    ),
    (
        "POST",
        "/api/v1/sales-orders/{id}/confirm",
        UseCase::ConfirmSalesOrder,
    ),
    (
        "POST",
        "/api/v1/sales-orders/{id}/ship",
        UseCase::ShipSalesOrder,
    ),
    (
        "POST",
        "/api/v1/sales-orders/{id}/cancel",
        UseCase::CancelSalesOrder,
    ),
    ("POST", "/api/v1/parties", UseCase::CreateParty),
    ("GET", "/api/v1/parties", UseCase::ListParties),
    ("GET", "/api/v1/parties/{id}", UseCase::GetParty),
    ("PATCH", "/api/v1/parties/{id}", UseCase::UpdateParty),
    (
        "POST",
        "/api/v1/purchase-orders",
        UseCase::CreatePurchaseOrder,
    ),
    (
        "GET",
        "/api/v1/purchase-orders",
        UseCase::ListPurchaseOrders,
    ),
    (
        "GET",
        "/api/v1/purchase-orders/{id}",
        UseCase::GetPurchaseOrder,
    ),
    (
        "PATCH",
        "/api/v1/purchase-orders/{id}",
        UseCase::UpdatePurchaseOrder,
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/submit",
        UseCase::SubmitPurchaseOrder,
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/receive",
        UseCase::ReceivePurchaseOrder,
    ),
    (
        "POST",
        "/api/v1/purchase-orders/{id}/cancel",
        UseCase::CancelPurchaseOrder,
    ),
];

/// The use case a route calls.
pub fn use_case(method: &str, path: &str) -> Option<UseCase> {
    ROUTES
        .iter()
        .find(|(m, p, _)| m.eq_ignore_ascii_case(method) && *p == path)
        .map(|(_, _, u)| *u)
}

pub fn routes() -> Router<App> {
    Router::new()
        .route("/api/v1/auth/login", post(auth::login))
        .route("/api/v1/auth/logout", post(auth::logout))
        .route("/api/v1/me", get(auth::me))
        .route("/api/v1/me/password", post(auth::change_password))
        .route("/api/v1/me/sessions", get(auth::my_sessions))
        .route("/api/v1/me/sessions/{id}", delete(auth::end_my_session))
        .route(
            "/api/v1/me/tokens",
            post(auth::create_token).get(auth::my_tokens),
        )
        .route("/api/v1/me/tokens/{id}", delete(auth::revoke_token))
        .route(
            "/api/v1/users",
            post(users::create_user).get(users::list_users),
        )
        .route(
            "/api/v1/users/{id}",
            get(users::get_user).patch(users::patch_user),
        )
        .route("/api/v1/users/{id}/password", post(users::reset_password))
        .route(
            "/api/v1/users/{id}/sessions",
            get(users::list_user_sessions),
        )
        .route(
            "/api/v1/users/{id}/sessions/{session_id}",
            delete(users::end_user_session),
        )
        .route(
            "/api/v1/items",
            post(items::create_item).get(items::list_items),
        )
        .route("/api/v1/items/export.csv", get(items::export_items))
        .route("/api/v1/items/import", post(items::import_items))
        .route(
            "/api/v1/items/{id}",
            get(items::get_item)
                .patch(items::patch_item)
                .delete(items::delete_item),
        )
        .route("/api/v1/items/{id}/restore", post(items::restore_item))
        .route("/api/v1/items/{id}/stock", get(items::item_stock))
        .route(
            "/api/v1/locations",
            post(locations::create_location).get(locations::list_locations),
        )
        .route(
            "/api/v1/locations/{id_or_code}",
            get(locations::get_location).patch(locations::patch_location),
        )
        .route(
            "/api/v1/movements",
            post(movements::create_movement).get(movements::list_movements),
        )
        .route("/api/v1/movements/batch", post(movements::create_batch))
        .route(
            "/api/v1/movements/export.csv",
            get(movements::export_movements),
        )
        .route("/api/v1/movements/{id}", get(movements::get_movement))
        .route(
            "/api/v1/movements/{id}/reverse",
            post(movements::reverse_movement),
        )
        .route("/api/v1/stock-counts", post(stock_counts::post_stock_count))
        .route("/api/v1/events", get(events::stream_events))
        .route("/api/v1/admin/invariants", get(admin::invariants))
        .route("/api/v1/audit", get(audit::list_audit))
        .route("/api/v1/audit/export.csv", get(audit::export_audit))
        .route(
            "/api/v1/reservations",
            post(reservations::create_reservation).get(reservations::list_reservations),
        )
        .route(
            "/api/v1/reservations/{id}",
            get(reservations::get_reservation)
                .patch(reservations::patch_reservation)
                .delete(reservations::release_reservation),
        )
        .route(
            "/api/v1/sales-orders",
            post(sales_orders::create_sales_order).get(sales_orders::list_sales_orders),
        )
        .route(
            "/api/v1/sales-orders/{id}",
            get(sales_orders::get_sales_order).patch(sales_orders::patch_sales_order),
        )
        .route(
            "/api/v1/sales-orders/{id}/hold",
            post(sales_orders::hold_sales_order),
        )
        .route(
            "/api/v1/sales-orders/{id}/confirm",
            post(sales_orders::confirm_sales_order),
        )
        .route(
            "/api/v1/sales-orders/{id}/ship",
            post(sales_orders::ship_sales_order),
        )
        .route(
            "/api/v1/sales-orders/{id}/cancel",
            post(sales_orders::cancel_sales_order),
        )
        .route(
            "/api/v1/parties",
            post(parties::create_party).get(parties::list_parties),
        )
        .route(
            "/api/v1/parties/{id}",
            get(parties::get_party).patch(parties::patch_party),
        )
        .route(
            "/api/v1/purchase-orders",
            post(purchase_orders::create_purchase_order).get(purchase_orders::list_purchase_orders),
        )
        .route(
            "/api/v1/purchase-orders/{id}",
            get(purchase_orders::get_purchase_order).patch(purchase_orders::patch_purchase_order),
        )
        .route(
            "/api/v1/purchase-orders/{id}/submit",
            post(purchase_orders::submit_purchase_order),
        )
        .route(
            "/api/v1/purchase-orders/{id}/receive",
            post(purchase_orders::receive_purchase_order),
        )
        .route(
            "/api/v1/purchase-orders/{id}/cancel",
            post(purchase_orders::cancel_purchase_order),
        )
}
