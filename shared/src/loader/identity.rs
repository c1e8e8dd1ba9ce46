//! Row identity across deletions: the UUID a load gives a new package,
//! version or target is derived from its natural key, so that a row deleted
//! (by a load of a wrong source, or because the source dropped it for a
//! while) and created again has the UUID it had, and the API's links to it
//! stay valid.
//!
//! Each UUID is a version-5 (SHA-1, RFC 9562) UUID whose namespace is the
//! parent's UUID: a package's is derived from its catalog's UUID and its key
//! (name, extension or not), a version's from its package's UUID and its key
//! (version, module name), a target's from its version's UUID and its key
//! (type, name). The catalog row itself is never deleted by a load, so its
//! UUID anchors the chain; a catalog deleted through the API and loaded again
//! is a new catalog, with new UUIDs throughout. Natural keys are unique within
//! their parent, so derived UUIDs are unique, and no lookup is needed: the
//! loader knows them from the snapshot and the stored parents alone.
//!
//! Rows stored before the loader derived UUIDs keep their random ones while
//! they exist; created again, they get the derived one.

use uuid::Uuid;

use crate::snapshot::{PackageKey, TargetKey, VersionKey};

/// The UUID of a package of the catalog whose UUID is `catalog`.
pub fn package_uuid(catalog: &Uuid, key: &PackageKey) -> Uuid {
    let extension: &[u8] = if key.is_extension { b"1" } else { b"0" };
    derive(catalog, [b"package", key.name.as_bytes(), extension])
}

/// The UUID of a version of the package whose UUID is `package`.
pub fn version_uuid(package: &Uuid, key: &VersionKey) -> Uuid {
    derive(
        package,
        [
            b"version",
            key.version.as_bytes(),
            key.modulename.as_bytes(),
        ],
    )
}

/// The UUID of a target of the version whose UUID is `version`.
pub fn target_uuid(version: &Uuid, key: &TargetKey) -> Uuid {
    derive(
        version,
        [
            b"target",
            key.target_type.as_bytes(),
            key.target_name.as_bytes(),
        ],
    )
}

/// The version-5 UUID of `parts` (each length-prefixed, so that moving bytes
/// between parts changes the name) in `namespace`.
fn derive<const N: usize>(namespace: &Uuid, parts: [&[u8]; N]) -> Uuid {
    let mut hasher = sha1_smol::Sha1::new();
    hasher.update(namespace.as_bytes());
    for part in parts {
        hasher.update(&(part.len() as u64).to_le_bytes());
        hasher.update(part);
    }
    let digest = hasher.digest().bytes();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_sha1_bytes(bytes).into_uuid()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(name: &str, is_extension: bool) -> PackageKey {
        PackageKey {
            name: name.into(),
            is_extension,
        }
    }

    #[test]
    fn the_same_key_in_the_same_parent_gives_the_same_uuid() {
        let catalog = Uuid::from_u128(0x1234);
        let first = package_uuid(&catalog, &package("gromacs", false));
        assert_eq!(first, package_uuid(&catalog, &package("gromacs", false)));
        assert_eq!(first.get_version_num(), 5);
        assert_eq!(first.get_variant(), uuid::Variant::RFC4122);
    }

    #[test]
    fn other_keys_and_other_parents_give_other_uuids() {
        let catalog = Uuid::from_u128(0x1234);
        let gromacs = package_uuid(&catalog, &package("gromacs", false));
        assert_ne!(gromacs, package_uuid(&catalog, &package("gromacs", true)));
        assert_ne!(gromacs, package_uuid(&catalog, &package("gromac", false)));
        assert_ne!(
            gromacs,
            package_uuid(&Uuid::from_u128(0x1235), &package("gromacs", false))
        );
        let version = |version: &str, modulename: &str| VersionKey {
            version: version.into(),
            modulename: modulename.into(),
        };
        // Bytes moved from one part to the next make another name.
        assert_ne!(
            version_uuid(&gromacs, &version("1.0", "x")),
            version_uuid(&gromacs, &version("1.0x", ""))
        );
        let target = TargetKey {
            target_type: "cpu".into(),
            target_name: "x86_64/amd/zen4".into(),
        };
        let version = version_uuid(&gromacs, &version("2024.1", "GROMACS/2024.1"));
        assert_ne!(target_uuid(&version, &target), version);
        assert_eq!(
            target_uuid(&version, &target),
            target_uuid(&version, &target)
        );
    }
}
