//! Ordering of version strings by version semantics, not by text:
//! `3.10` comes after `3.9`, `2025.06` after `2023.06`, `1.0` after `1.0rc1`,
//! and branch versions (`develop`, `main` …) after every release, as Spack
//! orders them.

use std::cmp::Ordering;

/// One run of a version string: digits compare as numbers, letters as text.
#[derive(Debug, PartialEq, Eq)]
enum Part<'a> {
    Number(u128, &'a str),
    Text(&'a str),
}

fn parts(version: &str) -> impl Iterator<Item = Part<'_>> {
    let mut rest = version;
    std::iter::from_fn(move || {
        rest = rest.trim_start_matches(|c: char| !c.is_ascii_alphanumeric());
        let first = rest.chars().next()?;
        let numeric = first.is_ascii_digit();
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() || c.is_ascii_digit() != numeric)
            .unwrap_or(rest.len());
        let (run, tail) = rest.split_at(end);
        rest = tail;
        Some(if numeric {
            Part::Number(run.parse().unwrap_or(u128::MAX), run)
        } else {
            Part::Text(run)
        })
    })
}

/// Compares two version strings by version semantics. A version that is a
/// prefix of another with a text run after it (`1.0rc1`) sorts before it
/// (`1.0`); with a number after it (`1.0.1`) it sorts after. Ties fall back to
/// the plain text so that the order is total.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    match (branch_rank(a), branch_rank(b)) {
        (Some(x), Some(y)) if x != y => return x.cmp(&y),
        (Some(_), None) => return Ordering::Greater,
        (None, Some(_)) => return Ordering::Less,
        _ => {}
    }
    let mut left = parts(a);
    let mut right = parts(b);
    loop {
        let ordering = match (left.next(), right.next()) {
            (None, None) => return a.cmp(b),
            (Some(Part::Text(_)), None) => Ordering::Less,
            (None, Some(Part::Text(_))) => Ordering::Greater,
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (Some(Part::Number(x, xs)), Some(Part::Number(y, ys))) => x.cmp(&y).then(xs.cmp(ys)),
            (Some(Part::Number(..)), Some(Part::Text(_))) => Ordering::Greater,
            (Some(Part::Text(_)), Some(Part::Number(..))) => Ordering::Less,
            (Some(Part::Text(x)), Some(Part::Text(y))) => x.cmp(y),
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
}

/// Branch names that stand for the newest code, oldest first (Spack's
/// "infinity versions").
const BRANCHES: [&str; 7] = [
    "stable", "nightly", "trunk", "head", "master", "main", "develop",
];

fn branch_rank(version: &str) -> Option<usize> {
    BRANCHES
        .iter()
        .position(|branch| branch.eq_ignore_ascii_case(version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_version_semantics() {
        let mut versions = vec![
            "3.10", "3.9", "2025.06", "2023.06", "1.0", "1.0rc1", "1.0.1", "develop", "10",
            "master", "alpha",
        ];
        versions.sort_by(|a, b| compare_versions(a, b));
        assert_eq!(
            versions,
            [
                "alpha", "1.0rc1", "1.0", "1.0.1", "3.9", "3.10", "10", "2023.06", "2025.06",
                "master", "develop"
            ]
        );
    }
}
