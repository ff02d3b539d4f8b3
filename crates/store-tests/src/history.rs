//! Contract tests of the daily series over the ledger (`HistoryStore`).

use crate::helpers::*;
use chrono::{NaiveDate, NaiveTime};
use inventory_core::dump::{ItemRow, LocationRow, MovementRow, Record, StockRow};
use inventory_core::history::{DayFigure, Days};

fn values<T: Copy>(series: &[DayFigure<T>]) -> Vec<T> {
    series.iter().map(|f| f.value).collect()
}

fn at(day: NaiveDate, time: &str) -> DateTime<Utc> {
    day.and_time(NaiveTime::parse_from_str(time, "%H:%M:%S%.f").expect("time"))
        .and_utc()
}

fn item_row(sku: &str, unit_cost: i64, on_hand: i64, archived: bool) -> ItemRow {
    let now = inventory_core::now();
    ItemRow {
        id: Uuid::now_v7(),
        sku: sku.to_owned(),
        name: format!("Item {sku}"),
        description: None,
        category: None,
        barcode: None,
        unit: "pcs".to_owned(),
        reorder_point: 0,
        unit_cost,
        attributes: "{}".to_owned(),
        archived,
        on_hand,
        reserved: 0,
        incoming: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn location_row(code: &str, default: bool) -> LocationRow {
    let now = inventory_core::now();
    LocationRow {
        id: Uuid::now_v7(),
        code: code.to_owned(),
        name: format!("Location {code}"),
        default,
        created_at: now,
        updated_at: now,
    }
}

/// A ledger spread over the last week, imported with the times it names:
/// A (2.50) receives 10 on T-5 and 5 at the last microsecond of T-3,
/// issues 4 at midnight starting T-2 and moves 3 to SHELF that day; B
/// (1.00) is adjusted +7 on T-1 and -2 today; C (3.00, archived since)
/// receives 3 on T-4 and issues them on T-3. Now A holds 11, B 5, C none:
/// the value now is 11 × 2.50 + 5 × 1.00 = 32.50.
pub async fn history_follows_the_ledger_by_day(store: S) {
    let today = inventory_core::now().date_naive();
    let t = |n: u64| today - chrono::Days::new(n);
    let main = location_row(MAIN_LOCATION, true);
    let shelf = location_row("SHELF", false);
    let a = item_row("HIST-A", 2_5000, 11, false);
    let b = item_row("HIST-B", 1_0000, 5, false);
    let c = item_row("HIST-C", 3_0000, 0, true);
    let mut seq = 0;
    let mut mv = |item: &ItemRow, kind: &str, quantity: i64, when: DateTime<Utc>| {
        seq += 1;
        let (location, from, to) = if kind == "transfer" {
            (None, Some(main.id), Some(shelf.id))
        } else {
            (Some(main.id), None, None)
        };
        Record::Movement(MovementRow {
            seq,
            id: Uuid::now_v7(),
            item_id: item.id,
            kind: kind.to_owned(),
            quantity,
            location_id: location,
            from_location_id: from,
            to_location_id: to,
            reason: (kind == "adjust").then(|| "count".to_owned()),
            reference: None,
            reverses: None,
            created_by: "history".to_owned(),
            created_at: when,
        })
    };
    let movements = vec![
        mv(&a, "receive", 10, at(t(5), "10:00:00")),
        mv(&c, "receive", 3, at(t(4), "09:00:00")),
        mv(&a, "receive", 5, at(t(3), "23:59:59.999999")),
        mv(&c, "issue", 3, at(t(3), "12:00:00")),
        mv(&a, "issue", 4, at(t(2), "00:00:00")),
        mv(&a, "transfer", 3, at(t(2), "12:00:00")),
        mv(&b, "adjust", 7, at(t(1), "08:00:00")),
        mv(&b, "adjust", -2, at(today, "00:00:01")),
    ];
    let stock = |item: &ItemRow, location: &LocationRow, on_hand: i64| {
        Record::Stock(StockRow {
            item_id: item.id,
            location_id: location.id,
            on_hand,
            reserved: 0,
        })
    };
    let mut records = vec![
        Record::Location(main.clone()),
        Record::Location(shelf.clone()),
        Record::Item(a.clone()),
        Record::Item(b.clone()),
        Record::Item(c.clone()),
        stock(&a, &main, 8),
        stock(&a, &shelf, 3),
        stock(&b, &main, 5),
    ];
    records.extend(movements);
    let rows = records
        .into_iter()
        .enumerate()
        .map(|(n, r)| Ok((n as u64 + 2, r)))
        .collect::<Vec<_>>();
    store
        .import(Box::new(rows.into_iter()))
        .await
        .expect("import");
    for item in [&a, &b, &c] {
        assert_consistent(&store, item.id).await;
    }

    let week = Days::ending(today, 7);
    let per_day = store.movements_per_day(week).await.expect("per day");
    let days: Vec<NaiveDate> = per_day.iter().map(|f| f.day).collect();
    assert_eq!(days, (0..7).rev().map(t).collect::<Vec<_>>());
    // The last microsecond of T-3 counts for T-3, midnight for T-2.
    assert_eq!(values(&per_day), vec![0, 1, 1, 2, 2, 1, 1]);

    assert_eq!(store.stock_value().await.expect("value"), 32_5000);
    let value = store
        .stock_value_per_day(week)
        .await
        .expect("value per day");
    assert_eq!(value.now, 32_5000);
    assert_eq!(
        values(&value.days),
        vec![0, 25_0000, 34_0000, 37_5000, 27_5000, 34_5000, 32_5000]
    );
    assert_eq!(value.days[6].day, today);

    let a_days = store.item_stock_per_day(a.id, week).await.expect("A");
    assert_eq!(values(&a_days), vec![0, 10, 10, 15, 11, 11, 11]);
    let b_days = store.item_stock_per_day(b.id, week).await.expect("B");
    assert_eq!(values(&b_days), vec![0, 0, 0, 0, 0, 7, 5]);
    let c_days = store.item_stock_per_day(c.id, week).await.expect("C");
    assert_eq!(values(&c_days), vec![0, 0, 3, 0, 0, 0, 0]);

    // A window that ended before today: later movements are undone, and
    // only its own days are counted.
    let earlier = Days::ending(t(2), 3);
    let per_day = store.movements_per_day(earlier).await.expect("per day");
    assert_eq!(values(&per_day), vec![1, 2, 2]);
    assert_eq!(per_day[0].day, t(4));
    let value = store.stock_value_per_day(earlier).await.expect("value");
    assert_eq!(value.now, 32_5000);
    assert_eq!(values(&value.days), vec![34_0000, 37_5000, 27_5000]);
    let a_days = store.item_stock_per_day(a.id, earlier).await.expect("A");
    assert_eq!(values(&a_days), vec![10, 15, 11]);

    assert_not_found(store.item_stock_per_day(Uuid::now_v7(), week).await);
}

/// An empty store has a flat, zero history; live movements count for
/// today; a value past `i64` (the dearest unit cost the API takes, a
/// million of them) is exact.
pub async fn history_is_exact_beyond_i64(store: S) {
    let today = inventory_core::now().date_naive();
    let two = Days::ending(today, 2);
    assert_eq!(store.stock_value().await.expect("value"), 0);
    assert_eq!(
        values(&store.movements_per_day(two).await.expect("per day")),
        vec![0, 0]
    );
    let value = store.stock_value_per_day(two).await.expect("value");
    assert_eq!((value.now, values(&value.days)), (0, vec![0, 0]));

    let actor = new_actor(&store, "clerk").await;
    let mut dear = item_spec("DEAR", "Dear", None, 0);
    dear.unit_cost = 100_000_000_000_000_000; // 10^13 currency units
    let dear = add_item(&store, dear).await;
    let mut cheap = item_spec("CHEAP", "Cheap", None, 0);
    cheap.unit_cost = 1;
    let cheap = add_item(&store, cheap).await;
    let idle = new_item(&store, "IDLE").await;
    apply_ok(
        &store,
        &actor,
        vec![
            receive(dear.id, 1_000_000, MAIN_LOCATION),
            receive(cheap.id, 3, MAIN_LOCATION),
            issue(cheap.id, 1, MAIN_LOCATION),
        ],
    )
    .await;
    // The day the movements were written (should the test cross midnight).
    let day = movements_of(&store, dear.id).await[0]
        .created_at
        .date_naive();
    let two = Days::ending(day, 2);

    let want: i128 = 100_000_000_000_000_000i128 * 1_000_000 + 2;
    assert!(want > i128::from(i64::MAX));
    assert_eq!(store.stock_value().await.expect("value"), want);
    let value = store.stock_value_per_day(two).await.expect("value");
    assert_eq!((value.now, values(&value.days)), (want, vec![0, want]));
    assert_eq!(
        values(&store.movements_per_day(two).await.expect("per day")),
        vec![0, 3]
    );
    assert_eq!(
        values(&store.item_stock_per_day(dear.id, two).await.expect("dear")),
        vec![0, 1_000_000]
    );
    assert_eq!(
        values(&store.item_stock_per_day(idle.id, two).await.expect("idle")),
        vec![0, 0]
    );
}
