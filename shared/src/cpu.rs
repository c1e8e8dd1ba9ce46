//! What a CPU can run: a build for a micro-architecture runs on that
//! micro-architecture and on every one that descends from it in archspec's
//! graph (a zen4 node runs zen3, zen2 and generic x86_64 builds, not haswell
//! or anything aarch64). `generic` stands for the family itself.

use archspec::cpu::Microarchitecture;

use crate::catalog::CpuTarget;

/// The micro-architecture every CPU of a family runs.
pub const GENERIC: &str = "generic";

/// Whether a node of CPU `host` runs a build for `family`/`microarchitecture`
/// (as catalogs store them: `x86_64` and `amd/zen3`).
pub fn can_run(host: &CpuTarget, family: &str, microarchitecture: &str) -> bool {
    if host.family() != family {
        return false;
    }
    if microarchitecture == GENERIC || microarchitecture == host.microarchitecture() {
        return true;
    }
    let (Some(host), Some(build)) = (
        archspec_target(host.microarchitecture()),
        archspec_target(microarchitecture),
    ) else {
        return false;
    };
    host.as_ref() == build.as_ref() || host.decendent_of(&build)
}

/// archspec's micro-architecture for a catalog's name of one: its last
/// segment (`amd/zen4` → `zen4`), but EESSI's `nvidia/grace` is archspec's
/// `neoverse_v2`.
fn archspec_target(microarchitecture: &str) -> Option<std::sync::Arc<Microarchitecture>> {
    let name = match microarchitecture.rsplit('/').next()? {
        "grace" => "neoverse_v2",
        name => name,
    };
    Microarchitecture::known_targets().get(name).cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(target: &str) -> CpuTarget {
        CpuTarget::parse(target).unwrap()
    }

    #[test]
    fn a_zen4_node_runs_older_amd_and_generic_builds_only() {
        let zen4 = host("x86_64/amd/zen4");
        for runs in ["generic", "amd/zen4", "amd/zen3", "amd/zen2"] {
            assert!(can_run(&zen4, "x86_64", runs), "{runs}");
        }
        for refused in ["intel/haswell", "intel/sapphirerapids", "amd/zen5"] {
            assert!(!can_run(&zen4, "x86_64", refused), "{refused}");
        }
        assert!(!can_run(&zen4, "aarch64", "generic"));
        assert!(!can_run(&zen4, "aarch64", "neoverse_v1"));
    }

    #[test]
    fn grace_is_archspecs_neoverse_v2() {
        let grace = host("aarch64/nvidia/grace");
        assert!(can_run(&grace, "aarch64", "nvidia/grace"));
        assert!(can_run(&grace, "aarch64", "neoverse_n1"));
        assert!(can_run(&grace, "aarch64", "generic"));
        assert!(!can_run(&grace, "aarch64", "a64fx"));
        assert!(!can_run(
            &host("aarch64/neoverse_n1"),
            "aarch64",
            "nvidia/grace"
        ));
    }
}
