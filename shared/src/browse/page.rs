//! Page-number pagination and `o=` ordering, as the marketplace API's users
//! know them: `page` from 1, `page_size` bounded, `o=name,-version_count`.

/// Page size when the caller gives none.
pub const DEFAULT_PAGE_SIZE: u64 = 10;
/// Largest page served; a larger request is clamped to it.
pub const MAX_PAGE_SIZE: u64 = 300;

/// One page of a listing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    /// 1-based page number.
    pub number: u64,
    /// Rows per page, within 1..=[`MAX_PAGE_SIZE`].
    pub size: u64,
}

impl Page {
    /// The page asked for, with a missing size defaulted and a huge one
    /// clamped. Page 0 and size 0 are errors naming the parameter.
    pub fn new(number: Option<u64>, size: Option<u64>) -> Result<Self, BadParameter> {
        let number = number.unwrap_or(1);
        if number == 0 {
            return Err(BadParameter::new("page", "pages are numbered from 1"));
        }
        let size = size.unwrap_or(DEFAULT_PAGE_SIZE);
        if size == 0 {
            return Err(BadParameter::new("page_size", "must be at least 1"));
        }
        let size = size.min(MAX_PAGE_SIZE);
        let offset = (number - 1).checked_mul(size);
        if offset.is_none_or(|offset| offset > i64::MAX as u64) {
            return Err(BadParameter::new("page", "too large"));
        }
        Ok(Self { number, size })
    }

    /// ` LIMIT n OFFSET m` for this page.
    pub fn limit_offset(&self) -> String {
        let offset = (self.number - 1) * self.size;
        format!(" LIMIT {} OFFSET {offset}", self.size)
    }

    /// Whether a page follows this one, given the total count.
    pub fn has_next(&self, count: u64) -> bool {
        self.number.saturating_mul(self.size) < count
    }

    /// The last page of `count` rows; 1 when there are none, so that the
    /// first page always exists.
    pub fn last(&self, count: u64) -> u64 {
        count.div_ceil(self.size).max(1)
    }

    /// Whether this page lies past the last page of `count` rows: it holds
    /// no rows, and is not the (empty) first page.
    pub fn is_past_end(&self, count: u64) -> bool {
        self.number > self.last(count)
    }
}

/// One page of rows and the count of all rows matching the filters.
#[derive(Debug, Clone)]
pub struct Listing<T> {
    /// Rows matching the filters, over all pages.
    pub count: u64,
    /// This page's rows.
    pub rows: Vec<T>,
}

/// A query parameter that cannot be used, named so the caller can fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{parameter}: {reason}")]
pub struct BadParameter {
    /// The parameter's name, as the caller wrote it.
    pub parameter: String,
    /// What is wrong with its value.
    pub reason: String,
}

impl BadParameter {
    /// A parameter error.
    pub fn new(parameter: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            parameter: parameter.into(),
            reason: reason.into(),
        }
    }
}

/// Builds an `ORDER BY` from `o=` values (each a comma-separated list of
/// keys, `-` for descending) and a listing's known keys, ending with
/// `tiebreak` so that pages are stable.
pub fn order_by(
    requested: &[String],
    known: &[(&str, &str)],
    default: &str,
    tiebreak: &str,
) -> Result<String, BadParameter> {
    let mut terms = Vec::new();
    for key in requested
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|key| !key.is_empty())
    {
        let (name, direction) = match key.strip_prefix('-') {
            Some(name) => (name, "DESC"),
            None => (key, "ASC"),
        };
        let Some((_, expression)) = known.iter().find(|(known, _)| *known == name) else {
            let names: Vec<&str> = known.iter().map(|(name, _)| *name).collect();
            return Err(BadParameter::new(
                "o",
                format!("unknown ordering {name:?}; use one of {}", names.join(", ")),
            ));
        };
        terms.push(format!("{expression} {direction}"));
    }
    if terms.is_empty() {
        terms.push(default.to_owned());
    }
    terms.push(tiebreak.to_owned());
    Ok(format!(" ORDER BY {}", terms.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_clamped_and_zero_is_refused() {
        assert_eq!(Page::new(None, None).unwrap().size, DEFAULT_PAGE_SIZE);
        assert_eq!(
            Page::new(Some(2), Some(100_000)).unwrap().size,
            MAX_PAGE_SIZE
        );
        assert_eq!(Page::new(Some(0), None).unwrap_err().parameter, "page");
        assert_eq!(Page::new(None, Some(0)).unwrap_err().parameter, "page_size");
        assert_eq!(
            Page::new(Some(u64::MAX), None).unwrap_err().parameter,
            "page"
        );
        assert_eq!(
            Page::new(Some(1 << 60), Some(300)).unwrap_err().parameter,
            "page"
        );
        let page = Page::new(Some(3), Some(10)).unwrap();
        assert_eq!(page.limit_offset(), " LIMIT 10 OFFSET 20");
        assert!(page.has_next(31) && !page.has_next(30));
        assert_eq!(page.last(21), 3);
        assert!(!page.is_past_end(21) && page.is_past_end(20));
        let first = Page::new(None, None).unwrap();
        assert_eq!(first.last(0), 1);
        assert!(!first.is_past_end(0));
    }

    #[test]
    fn ordering_accepts_lists_and_names_unknown_keys() {
        let known = [("name", "p.name"), ("version_count", "version_count")];
        let order = order_by(
            &["-version_count,name".into()],
            &known,
            "p.name ASC",
            "p.id ASC",
        )
        .unwrap();
        assert_eq!(order, " ORDER BY version_count DESC, p.name ASC, p.id ASC");
        let error = order_by(&["size".into()], &known, "p.name ASC", "p.id ASC").unwrap_err();
        assert_eq!(error.parameter, "o");
        assert!(error.reason.contains("\"size\""), "{}", error.reason);
    }
}
