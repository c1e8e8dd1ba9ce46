//! A WHERE clause assembled from optional filters, with numbered
//! placeholders, so that listing queries stay plain SQL that can be read and
//! replayed in `psql` as written.

use sea_orm::{ConnectionTrait, Statement, Value};

/// Conditions joined with AND, and the values their placeholders stand for.
#[derive(Debug, Default)]
pub struct Conditions {
    clauses: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    /// No conditions yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Registers a value and returns its placeholder (`$3`), for use in a
    /// condition given to [`Conditions::push`].
    pub fn bind(&mut self, value: impl Into<Value>) -> String {
        self.values.push(value.into());
        format!("${}", self.values.len())
    }

    /// Adds a condition.
    pub fn push(&mut self, clause: impl Into<String>) {
        self.clauses.push(clause.into());
    }

    /// Adds `column = value`, when there is a value.
    pub fn equals(&mut self, column: &str, value: Option<impl Into<Value>>) {
        if let Some(value) = value {
            let placeholder = self.bind(value);
            self.push(format!("{column} = {placeholder}"));
        }
    }

    /// Adds `column ILIKE %text%` (case-insensitive, `%` and `_` literal),
    /// when there is a text.
    pub fn contains(&mut self, column: &str, text: Option<&str>) {
        if let Some(text) = text {
            let placeholder = self.bind(contains_pattern(text));
            self.push(format!("{column} ILIKE {placeholder}"));
        }
    }

    /// ` WHERE a AND b`, or nothing.
    pub fn where_clause(&self) -> String {
        if self.clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", self.clauses.join(" AND "))
        }
    }

    /// A statement of `sql` with these conditions' values.
    pub fn statement(&self, db: &impl ConnectionTrait, sql: String) -> Statement {
        Statement::from_sql_and_values(db.get_database_backend(), sql, self.values.clone())
    }
}

/// A statement of `sql` with its values, for the connection's backend.
pub fn statement(
    db: &impl ConnectionTrait,
    sql: impl Into<String>,
    values: impl IntoIterator<Item = Value>,
) -> Statement {
    Statement::from_sql_and_values(db.get_database_backend(), sql, values)
}

/// A `LIKE` pattern matching `text` anywhere, with `%`, `_` and `\` in the
/// text taken literally.
pub fn contains_pattern(text: &str) -> String {
    let mut pattern = String::with_capacity(text.len() + 2);
    pattern.push('%');
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_number_in_binding_order() {
        let mut conditions = Conditions::new();
        assert_eq!(conditions.where_clause(), "");
        let name = conditions.bind("gromacs");
        let kind = conditions.bind(true);
        conditions.push(format!("name = {name}"));
        conditions.push(format!("is_extension = {kind}"));
        assert_eq!(
            conditions.where_clause(),
            " WHERE name = $1 AND is_extension = $2"
        );
    }

    #[test]
    fn like_wildcards_in_the_text_are_literal() {
        assert_eq!(contains_pattern("py_x%"), "%py\\_x\\%%");
    }
}
