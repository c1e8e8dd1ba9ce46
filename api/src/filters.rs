//! Query parameters that several listings share, turned into the domain's
//! filter values in one place.

use softcat_shared::browse::TargetScope;
use uuid::Uuid;

/// The values of a parameter that takes several, given repeated
/// (`?cpu_family=x86_64&cpu_family=aarch64`) or comma-separated.
pub fn many(values: Option<Vec<String>>) -> Vec<String> {
    values
        .unwrap_or_default()
        .iter()
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|value| !value.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The target-level parameters of a listing.
pub fn target_scope(
    offering_uuid: Option<Uuid>,
    partition_uuid: Option<Uuid>,
    cpu_family: Option<Vec<String>>,
    cpu_microarchitecture: Option<Vec<String>>,
    has_gpu: Option<bool>,
    gpu_arch: Option<String>,
) -> TargetScope {
    TargetScope {
        offering_uuid,
        partition_uuid,
        cpu_families: many(cpu_family),
        cpu_microarchitectures: many(cpu_microarchitecture),
        has_gpu,
        gpu_arch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_and_comma_separated_values_are_one_list() {
        let values = many(Some(vec![
            "x86_64, aarch64".into(),
            "riscv64".into(),
            ",".into(),
        ]));
        assert_eq!(values, ["x86_64", "aarch64", "riscv64"]);
        assert!(many(None).is_empty());
    }
}
