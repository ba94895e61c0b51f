//! The scopes an integration needs, and the check of a granted scope list against them.

use crate::input::{Field, InputError};

/// Longest custom scope list accepted (a real grant can hold 100+ scopes).
pub const MAX_SCOPE_LIST_BYTES: usize = 16 * 1024;

const EXPENSE_APPROVALS: &[&str] = &[
    "openid",
    "EXPRPT",
    "expense.report.read",
    "expense.report.readwrite",
    "expense.report.workflowstatus.write",
    "identity.user.core.read",
    "identity.user.ids.read",
];

const MILEAGE_TO_EXPENSE: &[&str] = &[
    "identity.user.core.read",
    "identity.user.coresensitive.read",
    "identity.user.enterprise.read",
    "identity.user.ids.read",
    "EXPRPT",
    "CONFIG",
    "expense.report.read",
    "expense.report.readwrite",
];

/// What the connected integration needs from Concur.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopeProfile {
    /// Moveworks-style expense approvals.
    ExpenseApprovals,
    /// MileIQ-style mileage to expense.
    MileageToExpense,
    /// A list the admin typed, space- or comma-separated.
    Custom(Vec<String>),
}

impl ScopeProfile {
    /// Parses a profile key (`expense-approvals`, `mileage-to-expense`, `custom`) and, for
    /// `custom`, the admin's scope list.
    pub fn parse(key: &str, custom: &str) -> Result<Self, InputError> {
        match key.trim() {
            "expense-approvals" => Ok(Self::ExpenseApprovals),
            "mileage-to-expense" => Ok(Self::MileageToExpense),
            "custom" => Self::custom(custom),
            _ => Err(InputError::new(
                Field::Scopes,
                "Scope profile must be Expense approvals, Mileage to expense or Custom list.",
            )),
        }
    }

    /// A custom list: scopes separated by spaces or commas.
    pub fn custom(list: &str) -> Result<Self, InputError> {
        let list = crate::input::clean(Field::Scopes, list, MAX_SCOPE_LIST_BYTES).map_err(|e| {
            InputError::new(Field::Scopes, format!("Custom scope list: {}", e.message))
        })?;
        let mut scopes: Vec<String> = Vec::new();
        for scope in list.split([' ', ',']).filter(|s| !s.is_empty()) {
            if !scope
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "._-:*/".contains(c))
            {
                return Err(InputError::new(
                    Field::Scopes,
                    "Custom scope list may hold only scope names like expense.report.read, separated by spaces.",
                ));
            }
            if !scopes.iter().any(|s| s == scope) {
                scopes.push(scope.to_owned());
            }
        }
        Ok(Self::Custom(scopes))
    }

    /// The profile's key, as stored and as given on the command line.
    pub fn key(&self) -> &'static str {
        match self {
            Self::ExpenseApprovals => "expense-approvals",
            Self::MileageToExpense => "mileage-to-expense",
            Self::Custom(_) => "custom",
        }
    }

    pub fn label(&self) -> &'static str {
        match self {
            Self::ExpenseApprovals => "Expense approvals",
            Self::MileageToExpense => "Mileage to expense",
            Self::Custom(_) => "Custom list",
        }
    }

    pub fn required(&self) -> Vec<String> {
        match self {
            Self::ExpenseApprovals => EXPENSE_APPROVALS.iter().map(|s| s.to_string()).collect(),
            Self::MileageToExpense => MILEAGE_TO_EXPENSE.iter().map(|s| s.to_string()).collect(),
            Self::Custom(list) => list.clone(),
        }
    }

    /// Compares a granted scope list with what this profile needs.
    pub fn check(&self, granted: &[String]) -> ScopeCheck {
        let required = self.required();
        let missing = required
            .iter()
            .filter(|r| !granted.contains(r))
            .cloned()
            .collect();
        ScopeCheck { required, missing }
    }
}

/// Required scopes, and those of them the grant lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScopeCheck {
    pub required: Vec<String>,
    pub missing: Vec<String>,
}

impl ScopeCheck {
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_check_lists_exactly_the_missing_scopes() {
        let granted: Vec<String> = ["openid", "EXPRPT", "expense.report.read"]
            .map(String::from)
            .to_vec();
        let check = ScopeProfile::ExpenseApprovals.check(&granted);
        assert_eq!(
            check.missing,
            [
                "expense.report.readwrite",
                "expense.report.workflowstatus.write",
                "identity.user.core.read",
                "identity.user.ids.read"
            ]
        );
        assert!(!check.is_complete());
    }

    #[test]
    fn custom_lists_split_on_spaces_and_commas_and_drop_repeats() {
        let p = ScopeProfile::parse("custom", " EXPRPT, CONFIG  EXPRPT\n").unwrap();
        assert_eq!(p.required(), ["EXPRPT", "CONFIG"]);
        assert!(ScopeProfile::custom("EXPRPT <script>").is_err());
        assert!(
            ScopeProfile::custom("")
                .unwrap_err()
                .message
                .contains("required")
        );
        assert!(ScopeProfile::parse("everything", "").is_err());
    }
}
