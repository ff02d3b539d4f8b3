//! `GET /`: the dashboard.

use super::shared::MovementRow;
use crate::web::page::{render, Chrome, WebError};
use crate::web::session::Visitor;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::dashboard::TODAY_COUNT_CAP;
use inventory_app::App;
use inventory_core::access::Permission;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    items: i64,
    low_stock: i64,
    movements_today: usize,
    movements_today_capped: bool,
    latest: Vec<MovementRow>,
    may_move: bool,
}

pub async fn show(State(app): State<App>, visitor: Visitor) -> Result<Response, WebError> {
    let figures = app.dashboard(&visitor.principal, 10).await?;
    render(
        StatusCode::OK,
        &DashboardPage {
            chrome: visitor.chrome("Dashboard", "dashboard"),
            items: figures.items,
            low_stock: figures.low_stock,
            movements_today: figures.movements_today,
            movements_today_capped: figures.movements_today >= TODAY_COUNT_CAP,
            latest: figures.latest.iter().map(MovementRow::from).collect(),
            may_move: visitor.may(Permission::StockMove),
        },
    )
}
