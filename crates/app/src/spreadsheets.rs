//! Items and the ledger as CSV: exports streamed page by page (keyset
//! paging, never the whole list in memory), and the all-or-nothing import
//! of items with its preview. The file format and the checks are
//! `inventory_core::csvfile`'s.

use crate::after_commit::Change;
use crate::application::App;
use crate::movements::MovementFilter;
use crate::principal::{Principal, UseCase};
use futures_util::stream::{self, BoxStream, StreamExt};
use inventory_core::csvfile::{self, ImportReport};
use inventory_core::paging::{ItemCursor, ItemQuery, MovementQuery, MAX_LIMIT};
use inventory_core::{fold, Error, Result};
use std::collections::BTreeSet;
use tokio::sync::watch;

/// CSV text in chunks (the header first, then one chunk per page).
pub type CsvStream = BoxStream<'static, Result<Vec<u8>>>;

/// Where an import is, for a page that shows its progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ImportProgress {
    pub phase: ImportPhase,
    /// Rows checked so far (in `Checking`).
    pub done: usize,
    /// Item rows in the file.
    pub total: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ImportPhase {
    #[default]
    Reading,
    Checking,
    Writing,
    Done,
}

/// Rows whose SKUs and barcodes are looked up per store call.
const CHECK_CHUNK: usize = 2_000;

impl App {
    /// The items a list query selects (every page of it), as CSV. Access and
    /// the filters are checked before the first byte.
    pub async fn export_items(&self, caller: &Principal, query: ItemQuery) -> Result<CsvStream> {
        self.run(caller, UseCase::ExportItems, async {
            if let Some(code) = &query.location {
                self.known_location(code, "location").await?;
            }
            let store = self.store.clone();
            let query = ItemQuery {
                limit: MAX_LIMIT,
                after: None,
                ..query
            };
            let header = stream::once(async { Ok(csvfile::item_header()) });
            // State: the cursor of the next page; None once the last was sent.
            let pages = stream::try_unfold(Some(query), move |next| {
                let store = store.clone();
                async move {
                    let Some(query) = next else { return Ok(None) };
                    let page = store.list_items(&query).await?;
                    let mut chunk = Vec::new();
                    csvfile::write_items(&mut chunk, &page.rows);
                    let sort = query.sort;
                    let next = page.next_cursor.map(|key| ItemQuery {
                        after: Some(ItemCursor { sort, key }),
                        ..query
                    });
                    Ok(Some((chunk, next)))
                }
            });
            Ok(header.chain(pages).boxed())
        })
        .await
    }

    /// The movements a ledger query selects (every page of it), as CSV.
    pub async fn export_movements(
        &self,
        caller: &Principal,
        filter: MovementFilter,
    ) -> Result<CsvStream> {
        self.run(caller, UseCase::ExportMovements, async {
            let MovementFilter { mut query, sku } = filter;
            if let Some(code) = &query.location {
                self.known_location(code, "location").await?;
            }
            let mut none = false;
            if let Some(sku) = sku {
                match self.store.find_item_by_sku(&sku).await? {
                    Some(item) if query.item_id.is_none_or(|id| id == item.id) => {
                        query.item_id = Some(item.id)
                    }
                    _ => none = true,
                }
            }
            let store = self.store.clone();
            let query = MovementQuery {
                limit: MAX_LIMIT,
                after_seq: None,
                ..query
            };
            let header = stream::once(async { Ok(csvfile::movement_header()) });
            let first = (!none).then_some(query);
            let pages = stream::try_unfold(first, move |next| {
                let store = store.clone();
                async move {
                    let Some(query) = next else { return Ok(None) };
                    let page = store.list_movements(&query).await?;
                    let mut chunk = Vec::new();
                    csvfile::write_movements(&mut chunk, &page.rows);
                    let next = page
                        .next_cursor
                        .and_then(|seq| seq.parse::<i64>().ok())
                        .map(|seq| MovementQuery {
                            after_seq: Some(seq),
                            ..query
                        });
                    Ok(Some((chunk, next)))
                }
            });
            Ok(header.chain(pages).boxed())
        })
        .await
    }

    /// Imports items from CSV: checks every row (core's item rules, SKUs
    /// and barcodes unique in the file and against other items) and, unless
    /// `dry_run` or a row is invalid, writes them all in one transaction.
    /// The report says what each row is (new, changed, unchanged, invalid)
    /// and whether anything was written; an invalid file is a report with
    /// `written: false`, not an error. `progress`, if given, follows along.
    pub async fn import_items(
        &self,
        caller: &Principal,
        csv: &[u8],
        dry_run: bool,
        progress: Option<&watch::Sender<ImportProgress>>,
    ) -> Result<ImportReport> {
        let tell = |phase, done, total| {
            if let Some(p) = progress {
                p.send_replace(ImportProgress { phase, done, total });
            }
        };
        self.run(caller, UseCase::ImportItems, async {
            let file = csvfile::read_items(csv);
            let total = file.rows.len();
            tell(ImportPhase::Checking, 0, total);
            let mut existing = Vec::new();
            for (i, rows) in file.rows.chunks(CHECK_CHUNK).enumerate() {
                let skus: BTreeSet<String> = rows.iter().map(|r| fold(r.sku())).collect();
                let barcodes: BTreeSet<String> = rows
                    .iter()
                    .filter_map(|r| r.barcode())
                    .map(str::trim)
                    .filter(|b| !b.is_empty())
                    .map(str::to_owned)
                    .collect();
                existing.extend(
                    self.store
                        .find_items_by_keys(
                            skus.into_iter().collect(),
                            barcodes.into_iter().collect(),
                        )
                        .await?,
                );
                tell(
                    ImportPhase::Checking,
                    (i * CHECK_CHUNK + rows.len()).min(total),
                    total,
                );
            }
            existing.sort_by_key(|i| i.id);
            existing.dedup_by_key(|i| i.id);
            let plan = csvfile::plan(file, &existing, dry_run, inventory_core::now());
            let mut report = plan.report;
            if dry_run || !report.is_valid() {
                tell(ImportPhase::Done, total, total);
                return Ok(report);
            }
            tell(ImportPhase::Writing, total, total);
            let (rows, writes): (Vec<usize>, Vec<_>) = plan.writes.into_iter().unzip();
            match self.store.import_items(writes).await {
                Ok(written) => {
                    report.written = true;
                    let created = report.new;
                    let updated: Vec<_> = written[..written.len() - created]
                        .iter()
                        .map(|i| i.id)
                        .collect();
                    self.after_commit(Change::ItemsImported {
                        created,
                        updated: &updated,
                    })
                    .await;
                }
                // Changed since it was checked (a race): the row is named,
                // and nothing was written.
                Err(Error::AtIndex { index, source }) => {
                    if let Some(&row) = rows.get(index) {
                        report.refuse_row(row, &source);
                    }
                }
                Err(e) => return Err(e),
            }
            tell(ImportPhase::Done, total, total);
            Ok(report)
        })
        .await
    }
}
