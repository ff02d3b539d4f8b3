//! Every domain type in one place, for code that uses several areas.

pub use crate::catalogue::*;
pub use crate::events::*;
pub use crate::identity::*;
pub use crate::ledger::*;
pub use crate::parties::*;
pub use crate::purchasing::{PoLine, PoStatus, PurchaseOrder, ReceiptResult, ReceivePurchaseOrder};
pub use crate::stocktake::{Books, CountResult, CountedLine, MovedItem, StockCount};
