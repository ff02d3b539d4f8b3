//! The [`Store`] contract suite. Every backend runs the same tests through
//! [`contract_tests!`]:
//!
//! ```text
//! async fn fresh_store() -> Arc<dyn Store> { /* empty, migrated, MAIN only */ }
//! inventory_store_tests::contract_tests!(fresh_store());
//! ```
//!
//! The factory may also yield `(Arc<dyn Store>, guard)`; the guard (a
//! `TempDir`, a database to drop) is dropped once the test is over.
//!
//! Each public `async fn` here takes a fresh, empty, migrated store that holds
//! the MAIN location and no users, and panics when the store breaks the
//! contract. The macro turns every one into its own `#[tokio::test]`.

// ================================================================ the macro

/// Expands to one `#[tokio::test]` per contract function. The argument is
/// an async expression (evaluated afresh for every test) that yields an
/// `Arc<dyn Store>` over an empty, migrated database holding only MAIN, or
/// such a store paired with a guard to drop after the test (see [`Fixture`]).
/// The calling crate needs `tokio` as a (dev-)dependency.
#[macro_export]
macro_rules! contract_tests {
    ($factory:expr) => {
        $crate::contract_tests!(@each $factory;
            ping_answers,
            item_round_trip,
            duplicate_sku_conflicts,
            barcodes_are_unique_when_set_and_found_exactly,
            unknown_item_is_not_found,
            update_item_merge_patch_bumps_version,
            update_item_stale_version_changes_nothing,
            archive_refuses_item_with_stock,
            archived_item_is_hidden_and_takes_no_movements,
            main_location_exists,
            main_location_code_patch_is_normalised,
            location_create_duplicate_update,
            location_list_paging,
            movement_arithmetic_per_location,
            movement_batch_results_are_cumulative,
            issue_beyond_available_writes_nothing,
            batch_is_all_or_none,
            unknown_location_or_item_is_rejected,
            seq_is_strictly_increasing,
            concurrent_issues_never_oversell,
            concurrent_transfers_conserve_stock,
            item_stock_as_of,
            list_items_filters,
            list_items_q_ignores_case_beyond_ascii,
            list_items_low_stock,
            list_items_sorts_and_paging,
            list_items_paging_under_concurrent_inserts,
            list_movements_filters,
            list_movements_order_and_paging,
            idempotent_movements,
            idempotent_movements_concurrent_same_key,
            idempotent_create_item,
            idempotent_create_location_and_user,
            users_create_find_duplicate,
            users_are_listed_and_change_role_but_one_admin_stays,
            concurrent_demotions_leave_an_admin,
            users_are_filtered_read_and_patched,
            disabling_ends_sessions_and_one_enabled_admin_stays,
            concurrent_disables_leave_an_enabled_admin,
            setting_a_password_ends_sessions,
            sessions_are_listed_touched_and_ended,
            api_tokens_are_found_with_scopes_until_they_expire_or_are_revoked,
            sessions_lifecycle,
            purge_expired_removes_old_keys_and_sessions,
            events_follow_every_committed_change,
            default_location_moves_and_takes_unnamed_movements,
            skus_are_unique_without_regard_to_case,
            restore_brings_an_archived_item_back,
            item_filters_ignore_case_and_follow_locations,
            a_movement_is_read_by_id,
            a_reversal_applies_the_opposite_once,
            movements_follow_the_guard_model,
            invariants_hold_after_every_kind_of_movement,
            a_count_posts_only_its_differences,
            a_count_after_which_an_item_moved_is_refused,
            a_count_racing_a_movement_is_never_stale,
            on_hand_at_reads_the_books_of_many_items_at_once,
            history_follows_the_ledger_by_day,
            history_is_exact_beyond_i64,
            import_items_applies_every_write_with_its_events,
            a_failing_import_row_writes_nothing,
            reservations_hold_available_stock_and_give_it_back,
            a_reservation_needs_an_item_a_location_and_an_active_item,
            an_item_holding_reservations_is_not_archived,
            an_expired_reservation_blocks_nobody_even_unswept,
            a_reservation_past_its_expiry_cannot_be_changed,
            the_sweeper_ends_due_reservations_under_one_lease,
            reservations_are_listed_by_filter_and_page,
            idempotent_reservation,
            concurrent_reservations_and_issues_never_oversell,
            a_sales_order_is_confirmed_and_shipped_in_parts,
            a_confirm_short_of_stock_names_the_line_and_reserves_nothing,
            a_held_cart_turns_firm_on_confirm_without_a_release,
            a_lapsed_hold_is_reserved_again_or_refused_when_taken,
            cancel_releases_what_is_reserved_and_keeps_what_shipped,
            a_draft_is_edited_by_line_and_its_holds_follow,
            sales_orders_are_listed_by_status_and_search,
            concurrent_confirms_on_one_hot_item_never_oversell,
            a_sales_order_names_a_customer_who_then_stays,
            party_round_trip_and_unique_code,
            parties_list_filters_and_paging,
            a_purchase_order_is_received_into_stock,
            purchase_order_transitions_name_the_status,
            over_receipt_is_refused_unless_allowed,
            cancelling_closes_what_is_outstanding,
            a_draft_is_edited_by_merging_lines,
            a_purchase_order_names_a_supplier_a_location_and_items,
            a_party_with_open_orders_cannot_be_archived,
            purchase_orders_list_filters_and_paging,
            idempotent_purchase_order_actions,
            racing_receipts_never_over_receive,
            every_change_is_audited_with_its_actor_and_fields,
            a_refused_change_leaves_no_audit_entry,
            user_session_and_token_changes_are_audited_without_secrets,
            audit_entries_page_filter_by_time_and_are_pruned_by_age,
        );
        $crate::contract_tests!(@pair $factory;
            export_import_round_trip,
            failed_import_writes_nothing,
            an_export_without_users_holds_no_user_and_imports,
        );
    };
    (@pair $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                // Two fresh stores: the source and the target of a move.
                let (source, _source_guard) = $crate::Fixture::into_parts($factory.await);
                let (target, _target_guard) = $crate::Fixture::into_parts($factory.await);
                $crate::$name(source, target).await;
            }
        )*
    };
    (@each $factory:expr; $($name:ident),* $(,)?) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $name() {
                // The guard outlives the store, which the test consumes.
                let (store, _guard) = $crate::Fixture::into_parts($factory.await);
                $crate::$name(store).await;
            }
        )*
    };
}

pub use inventory_core::Store;

// ================================================================ areas

mod admin;
mod audit;
mod catalogue;
mod events;
mod helpers;
mod history;
mod identity;
mod ledger;
mod moving;
mod parties;
mod purchasing;
mod reservations;
mod sales;
mod stocktake;

pub use admin::*;
pub use audit::*;
pub use catalogue::*;
pub use events::*;
pub use helpers::Fixture;
pub use history::*;
pub use identity::*;
pub use ledger::*;
pub use moving::*;
pub use parties::*;
pub use purchasing::*;
pub use reservations::*;
pub use sales::*;
pub use stocktake::*;
