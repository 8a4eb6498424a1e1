//! The shipped bundle becomes the registry's first versions: on a start with a registry that
//! does not know a model of the bundle (or not the bundle's version of it), that version is
//! registered (checked like any registration) and, when the model has no production version
//! yet, put in production. The first version a manifest lists for a head is its production
//! version; a further one becomes its `shadow` (it scores every image beside production, its
//! predictions stored and flagged, never the answer). Starting again changes nothing.

use std::path::Path;

use bytes::Bytes;
use vision_db::entities::model_versions::ModelRole;
use vision_inference::{Manifest, ModelEntry};

use crate::{PRODUCTION, Registration, Registry, RegistryError, Result, SHADOW};

/// Who the imported versions and aliases are recorded as registered by.
pub const BUNDLE: &str = "bundle";

/// Registers what the registry lacks of the bundle in `dir` (described by `manifest`); returns
/// the versions registered, as (name, version).
pub async fn import_bundle(
    registry: &Registry,
    manifest: &Manifest,
    dir: &Path,
) -> Result<Vec<(String, i32)>> {
    let mut registered = Vec::new();
    let entries = std::iter::once((ModelRole::Extractor, &manifest.extractor)).chain(
        manifest
            .classifiers
            .iter()
            .map(|entry| (ModelRole::Classifier, entry)),
    );
    for (role, entry) in entries {
        let known = registry.versions(Some(&entry.name)).await?;
        let version = match known.iter().find(|v| v.label == entry.version) {
            Some(version) => version.version,
            None => match registry
                .register(registration(role, entry, dir, manifest)?)
                .await
            {
                Ok(row) => {
                    registered.push((row.name.clone(), row.version));
                    row.version
                }
                // Another process (a second gateway replica) imported it meanwhile.
                Err(RegistryError::VersionExists(_)) => registry
                    .versions(Some(&entry.name))
                    .await?
                    .into_iter()
                    .find(|v| v.label == entry.version)
                    .map(|v| v.version)
                    .ok_or_else(|| {
                        RegistryError::NotFound(format!("{} {}", entry.name, entry.version))
                    })?,
                Err(e) => return Err(e),
            },
        };
        let aliases = registry.aliases(Some(&entry.name)).await?;
        if !aliases.iter().any(|a| a.alias == PRODUCTION) {
            registry
                .set_alias(
                    &entry.name,
                    PRODUCTION,
                    Some(version),
                    BUNDLE,
                    Some("the shipped bundle"),
                )
                .await?;
        } else if !aliases.iter().any(|a| a.version == version)
            && registered
                .iter()
                .any(|(n, v)| n == &entry.name && *v == version)
        {
            registry
                .set_alias(
                    &entry.name,
                    SHADOW,
                    Some(version),
                    BUNDLE,
                    Some("another version of the shipped bundle"),
                )
                .await?;
        }
    }
    if !registered.is_empty() {
        tracing::info!(
            ?registered,
            "the shipped bundle's models are in the registry"
        );
    }
    Ok(registered)
}

fn registration(
    role: ModelRole,
    entry: &ModelEntry,
    dir: &Path,
    manifest: &Manifest,
) -> Result<Registration> {
    let path = dir.join(&entry.file);
    let bytes = std::fs::read(&path)
        .map_err(|e| RegistryError::InvalidModel(format!("cannot read {}: {e}", path.display())))?;
    let details = serde_json::to_value(&entry.details).ok();
    Ok(Registration {
        name: entry.name.clone(),
        role,
        bytes: Bytes::from(bytes),
        label: Some(entry.version.clone()),
        extractor_label: (role == ModelRole::Classifier)
            .then(|| manifest.extractor.version.clone()),
        metrics: None,
        card: details,
        lineage: Some(serde_json::json!({
            "source": "bundle",
            "file": entry.file,
            "sha256": entry.sha256,
        })),
        registered_by: BUNDLE.to_string(),
    })
}
