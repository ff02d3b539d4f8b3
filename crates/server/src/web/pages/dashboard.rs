//! `GET /`: the dashboard.

use super::shared::MovementRow;
use crate::web::chart::{chart, Chart, Kind};
use crate::web::page::{render, Chrome, WebError};
use crate::web::session::Visitor;
use askama::Template;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use inventory_app::dashboard::CHART_DAYS;
use inventory_app::App;
use inventory_core::access::Permission;
use inventory_core::money::format_total;

#[derive(Template)]
#[template(path = "dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    /// The feed position the figures were read after (see `pages::live`).
    live_after: i64,
    items: i64,
    low_stock: i64,
    movements_today: i64,
    stock_value: String,
    chart_days: u32,
    charts: Vec<Chart>,
    latest: Vec<MovementRow>,
    may_move: bool,
}

pub async fn show(State(app): State<App>, visitor: Visitor) -> Result<Response, WebError> {
    let figures = app.dashboard(&visitor.principal, 10).await?;
    let per_day: Vec<_> = figures
        .movements_per_day
        .iter()
        .map(|d| (d.day, i128::from(d.value)))
        .collect();
    let value: Vec<_> = figures
        .value_per_day
        .iter()
        .map(|d| (d.day, d.value))
        .collect();
    render(
        StatusCode::OK,
        &DashboardPage {
            live_after: figures.position,
            chrome: visitor.chrome("Dashboard", "dashboard"),
            items: figures.items,
            low_stock: figures.low_stock,
            movements_today: figures.movements_today,
            stock_value: format_total(figures.stock_value),
            chart_days: CHART_DAYS,
            charts: vec![
                chart(
                    Kind::Bars,
                    "movements-chart",
                    "Movements per day",
                    "Movements",
                    &per_day,
                    |v| v.to_string(),
                ),
                chart(
                    Kind::Steps,
                    "value-chart",
                    "Stock value at day's end (today's unit costs)",
                    "Stock value",
                    &value,
                    format_total,
                ),
            ],
            latest: figures.latest.iter().map(MovementRow::from).collect(),
            may_move: visitor.may(Permission::StockMove),
        },
    )
}
