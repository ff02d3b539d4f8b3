//! Sales orders: a cart (a draft that may hold its stock), confirm, ship
//! in parts, cancel. Every write is one store transaction; the after-commit
//! hook drops the cached figures of the items the order touched.

use crate::after_commit::Change;
use crate::application::App;
use crate::idempotency::{json, IdempotencyKey, Outcome};
use crate::principal::{Principal, UseCase};
use inventory_core::paging::Page;
use inventory_core::sales::{
    CreateSalesOrder, HoldRequest, SalesOrder, SalesOrderPatch, SalesOrderQuery, ShipRequest,
};
use inventory_core::store::{Created, OrderIdem};
use inventory_core::Result;
use std::future::Future;
use uuid::Uuid;

impl App {
    pub async fn create_sales_order(
        &self,
        caller: &Principal,
        input: CreateSalesOrder,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<SalesOrder>> {
        self.run(caller, UseCase::CreateSalesOrder, async {
            let new = input.validate(inventory_core::now())?;
            let actor = caller.actor();
            self.order_write(caller, key, 201, |idem| {
                self.store.create_sales_order(new, &actor, idem)
            })
            .await
        })
        .await
    }

    pub async fn get_sales_order(&self, caller: &Principal, id: Uuid) -> Result<SalesOrder> {
        self.run(
            caller,
            UseCase::GetSalesOrder,
            self.store.get_sales_order(id),
        )
        .await
    }

    pub async fn list_sales_orders(
        &self,
        caller: &Principal,
        query: SalesOrderQuery,
    ) -> Result<Page<SalesOrder>> {
        self.run(
            caller,
            UseCase::ListSalesOrders,
            self.store.list_sales_orders(&query),
        )
        .await
    }

    /// Changes a draft's lines (merged by `line_id`), reference or customer.
    pub async fn update_sales_order(
        &self,
        caller: &Principal,
        id: Uuid,
        patch: SalesOrderPatch,
    ) -> Result<SalesOrder> {
        self.run(caller, UseCase::UpdateSalesOrder, async {
            let before = self.store.get_sales_order(id).await?;
            let order = self
                .store
                .update_sales_order(id, patch, &caller.actor())
                .await?;
            self.order_changed(&[&before, &order]).await;
            Ok(order)
        })
        .await
    }

    /// Holds (again) a draft's stock for `minutes` from now.
    pub async fn hold_sales_order(
        &self,
        caller: &Principal,
        id: Uuid,
        request: HoldRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<SalesOrder>> {
        self.run(caller, UseCase::HoldSalesOrder, async {
            let until = request.until(inventory_core::now())?;
            let actor = caller.actor();
            self.order_write(caller, key, 200, |idem| {
                self.store.hold_sales_order(id, until, &actor, idem)
            })
            .await
        })
        .await
    }

    pub async fn confirm_sales_order(
        &self,
        caller: &Principal,
        id: Uuid,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<SalesOrder>> {
        self.run(caller, UseCase::ConfirmSalesOrder, async {
            let actor = caller.actor();
            self.order_write(caller, key, 200, |idem| {
                self.store.confirm_sales_order(id, &actor, idem)
            })
            .await
        })
        .await
    }

    pub async fn ship_sales_order(
        &self,
        caller: &Principal,
        id: Uuid,
        request: ShipRequest,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<SalesOrder>> {
        self.run(caller, UseCase::ShipSalesOrder, async {
            let actor = caller.actor();
            let before = self.store.get_sales_order(id).await?;
            let outcome = self
                .order_write(caller, key, 200, |idem| {
                    self.store.ship_sales_order(id, request, &actor, idem)
                })
                .await?;
            if let Outcome::New(order) = &outcome {
                for (old, new) in before.lines.iter().zip(&order.lines) {
                    if new.shipped > old.shipped {
                        metrics::counter!("inventory_stock_movements_total", "kind" => "issue")
                            .increment(1);
                    }
                }
            }
            Ok(outcome)
        })
        .await
    }

    pub async fn cancel_sales_order(
        &self,
        caller: &Principal,
        id: Uuid,
        key: Option<IdempotencyKey>,
    ) -> Result<Outcome<SalesOrder>> {
        self.run(caller, UseCase::CancelSalesOrder, async {
            let actor = caller.actor();
            self.order_write(caller, key, 200, |idem| {
                self.store.cancel_sales_order(id, &actor, idem)
            })
            .await
        })
        .await
    }

    /// Runs an order write under the caller's key and sends its change
    /// through the after-commit hook.
    async fn order_write<F, Fut>(
        &self,
        caller: &Principal,
        key: Option<IdempotencyKey>,
        status: u16,
        write: F,
    ) -> Result<Outcome<SalesOrder>>
    where
        F: FnOnce(OrderIdem) -> Fut,
        Fut: Future<Output = Result<Created<SalesOrder>>>,
    {
        let outcome = self.idempotent(caller, key, status, json(), write).await?;
        if let Outcome::New(order) = &outcome {
            self.order_changed(&[order]).await;
        }
        Ok(outcome)
    }

    /// The items of these orders' lines hold or hold no longer.
    async fn order_changed(&self, orders: &[&SalesOrder]) {
        let items: Vec<Uuid> = orders
            .iter()
            .flat_map(|o| o.lines.iter().map(|l| l.item_id))
            .collect();
        self.after_commit(Change::Reservations(&items)).await;
    }
}
