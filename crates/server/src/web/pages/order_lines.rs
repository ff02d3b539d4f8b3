//! The line entry that the new sales-order and purchase-order forms share:
//! a scanner field (SKU or barcode), a quantity and a price, and Enter adds
//! the line. The lines gathered so far travel in the form as hidden fields,
//! so the form works the same without JavaScript (each Enter posts the form
//! and it comes back with the line added, ready for the next scan).

use super::shared::{form_value, Field};
use crate::web::page::WebError;
use inventory_app::App;
use inventory_core::money::{format_amount, format_unit_cost, parse_unit_cost};
use uuid::Uuid;

/// The most lines one form carries.
const MAX_LINES: usize = 500;

/// A line gathered so far (not yet written anywhere).
pub struct DraftLine {
    pub item_id: Uuid,
    pub sku: String,
    pub name: String,
    pub quantity: i64,
    /// The price as the order will take it (`"4.50"`), or "" for none.
    pub price: String,
    /// quantity × price, or "" without a price.
    pub total: String,
    /// The price in ten-thousandths, when there is one.
    minor: Option<i64>,
}

impl DraftLine {
    fn new(item_id: Uuid, sku: String, name: String, quantity: i64, minor: Option<i64>) -> Self {
        Self {
            item_id,
            sku,
            name,
            quantity,
            price: minor.map(format_unit_cost).unwrap_or_default(),
            total: minor
                .map(|m| format_amount(i128::from(quantity) * i128::from(m)))
                .unwrap_or_default(),
            minor,
        }
    }
}

/// What the visitor asked for with the button they pressed (Enter presses
/// the first one, "Add line").
#[derive(PartialEq, Eq)]
pub enum Action {
    Add,
    Remove(usize),
    Create,
}

/// The line entry's state: the gathered lines, the three entry fields,
/// which one has the focus, and what the scanned code turned out to be.
pub struct LineEntry {
    pub lines: Vec<DraftLine>,
    pub fields: Vec<Field>,
    pub focus: &'static str,
    pub status: Option<String>,
    /// Σ line totals (every line has a price), else "".
    pub total: String,
    /// Whether the entry fields held a line that could not be added.
    pub refused: bool,
}

impl LineEntry {
    pub fn blank(price_label: &'static str, price_hint: &'static str) -> Self {
        Self {
            lines: Vec::new(),
            fields: entry_fields(price_label, price_hint, "", "", ""),
            focus: "code",
            status: None,
            total: String::new(),
            refused: false,
        }
    }

    fn sum(&mut self) {
        let minors: Option<Vec<i128>> = self
            .lines
            .iter()
            .map(|l| l.minor.map(|m| i128::from(m) * i128::from(l.quantity)))
            .collect();
        self.total = match minors {
            Some(m) if !m.is_empty() => format_amount(m.into_iter().sum()),
            _ => String::new(),
        };
    }

    fn error(&mut self, name: &str, message: impl Into<String>) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.error = Some(message.into());
        }
        if !self.refused {
            self.focus = match name {
                "quantity" => "quantity",
                "price" => "price",
                _ => "code",
            };
        }
        self.refused = true;
    }
}

fn entry_fields(
    price_label: &'static str,
    price_hint: &'static str,
    code: &str,
    quantity: &str,
    price: &str,
) -> Vec<Field> {
    vec![
        Field::text("code", "SKU or barcode", code).hint("Scan it, or type it and press Enter"),
        Field::text("quantity", "Quantity", quantity).inputmode("numeric"),
        Field::text("price", price_label, price)
            .inputmode("decimal")
            .hint(price_hint),
    ]
}

/// Reads the posted form: the lines gathered so far, the button pressed,
/// and the entry fields, which (when filled in) become a new line, the
/// code resolved to an item as the scanner field does.
pub async fn read(
    app: &App,
    visitor: &crate::web::session::Visitor,
    pairs: &[(String, String)],
    price_label: &'static str,
    price_hint: &'static str,
    price_required: bool,
) -> Result<(LineEntry, Action), WebError> {
    let all = |name: &str| {
        pairs
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.trim().to_owned())
            .collect::<Vec<_>>()
    };
    let (items, skus, names, quantities, prices) = (
        all("line_item"),
        all("line_sku"),
        all("line_name"),
        all("line_quantity"),
        all("line_price"),
    );
    let mut lines = Vec::new();
    for (i, item) in items.iter().enumerate().take(MAX_LINES) {
        let (Ok(item_id), Some(Ok(quantity))) = (
            Uuid::parse_str(item),
            quantities.get(i).map(|q| q.parse::<i64>()),
        ) else {
            continue;
        };
        let minor = prices
            .get(i)
            .filter(|p| !p.is_empty())
            .and_then(|p| parse_unit_cost(p).ok());
        let text = |v: &Vec<String>| v.get(i).cloned().unwrap_or_default();
        lines.push(DraftLine::new(
            item_id,
            text(&skus),
            text(&names),
            quantity,
            minor,
        ));
    }
    let action = match form_value(pairs, "action").as_str() {
        "create" => Action::Create,
        other => match other.strip_prefix("remove-").map(str::parse::<usize>) {
            Some(Ok(n)) => Action::Remove(n),
            _ => Action::Add,
        },
    };
    let (code, quantity, price) = (
        form_value(pairs, "code"),
        form_value(pairs, "quantity"),
        form_value(pairs, "price"),
    );
    let mut entry = LineEntry {
        lines,
        fields: entry_fields(price_label, price_hint, &code, &quantity, &price),
        focus: "code",
        status: None,
        total: String::new(),
        refused: false,
    };
    if let Action::Remove(n) = action {
        if n < entry.lines.len() {
            entry.lines.remove(n);
        }
        entry.sum();
        return Ok((entry, action));
    }
    if code.is_empty() && quantity.is_empty() && price.is_empty() {
        entry.sum();
        return Ok((entry, action));
    }
    let item = if code.is_empty() {
        entry.error("code", "scan or type the SKU or barcode");
        None
    } else {
        match app.find_item_by_code(&visitor.principal, &code).await? {
            Some(item) => {
                entry.status = Some(format!(
                    "{} – {} ({} available)",
                    item.sku, item.name, item.available
                ));
                Some(item)
            }
            None => {
                entry.error("code", format!("no item has the SKU or barcode '{code}'"));
                None
            }
        }
    };
    let qty = match quantity.parse::<i64>() {
        _ if quantity.is_empty() => {
            entry.error("quantity", "type the quantity");
            None
        }
        Ok(q) if q > 0 => Some(q),
        _ => {
            entry.error("quantity", "must be a positive whole number");
            None
        }
    };
    let minor = match parse_unit_cost(&price) {
        _ if price.is_empty() && price_required => {
            entry.error("price", "type the price of one unit");
            None
        }
        _ if price.is_empty() => None,
        Ok(m) => Some(m),
        Err(message) => {
            entry.error("price", message);
            None
        }
    };
    if let (Some(item), Some(q), false) = (item, qty, entry.refused) {
        if entry.lines.len() >= MAX_LINES {
            entry.error("code", format!("an order holds at most {MAX_LINES} lines"));
        } else {
            // Scanning the same item at the same price again adds to its line.
            match entry
                .lines
                .iter_mut()
                .find(|l| l.item_id == item.id && l.minor == minor)
            {
                Some(line) => {
                    *line = DraftLine::new(
                        item.id,
                        item.sku.clone(),
                        item.name.clone(),
                        line.quantity + q,
                        minor,
                    )
                }
                None => entry.lines.push(DraftLine::new(
                    item.id,
                    item.sku.clone(),
                    item.name.clone(),
                    q,
                    minor,
                )),
            }
            entry.status = Some(format!("Added {q} × {} – {}.", item.sku, item.name));
            entry.fields = entry_fields(price_label, price_hint, "", "", "");
        }
    }
    entry.sum();
    Ok((entry, action))
}
