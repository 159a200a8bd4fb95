//! Where the key-encryption key comes from: `FERRID_KEK` (base64, 32 bytes), or on the embedded
//! default a file in the data directory, generated on first start with mode 0600.

use std::{
    fs,
    io::{ErrorKind, Write},
    path::{Path, PathBuf},
};

use keys::Kek;

use crate::config::Sensitive;

/// The file name of the generated KEK inside `FERRID_DATA_DIR`.
pub const KEK_FILE: &str = "kek";

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("FERRID_KEK: {0}")]
    Invalid(keys::KeyError),
    #[error("{path}: {problem}")]
    File { path: PathBuf, problem: String },
}

/// The configured KEK, or the data directory's (created on first use).
pub fn load_kek(configured: Option<&Sensitive>, data_dir: &Path) -> Result<Kek, KekError> {
    if let Some(encoded) = configured {
        return Kek::from_base64(encoded.expose().trim()).map_err(KekError::Invalid);
    }
    let path = data_dir.join(KEK_FILE);
    let file_error = |problem: String| KekError::File { path: path.clone(), problem };
    match fs::read_to_string(&path) {
        Ok(encoded) => Kek::from_base64(encoded.trim()).map_err(|e| file_error(e.to_string())),
        Err(error) if error.kind() == ErrorKind::NotFound => {
            fs::create_dir_all(data_dir).map_err(|e| file_error(e.to_string()))?;
            let kek = Kek::generate().map_err(|e| file_error(e.to_string()))?;
            write_private(&path, kek.expose_base64().as_bytes()).map_err(|e| file_error(e.to_string()))?;
            tracing::warn!(path = %path.display(), "generated a new key-encryption key; back it up (or set FERRID_KEK)");
            Ok(kek)
        }
        Err(error) => Err(file_error(error.to_string())),
    }
}

/// Creates `path` readable only by its owner; never overwrites an existing file.
fn write_private(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kek_file_is_generated_once_with_mode_0600_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_kek(None, dir.path()).unwrap();
        let second = load_kek(None, dir.path()).unwrap();
        assert_eq!(first.expose_base64(), second.expose_base64());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(dir.path().join(KEK_FILE)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn the_configured_kek_wins_and_bad_values_name_the_variable() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate().unwrap();
        let loaded = load_kek(Some(&Sensitive::new(kek.expose_base64())), dir.path()).unwrap();
        assert_eq!(loaded.expose_base64(), kek.expose_base64());
        assert!(!dir.path().join(KEK_FILE).exists());
        let error = load_kek(Some(&Sensitive::new("too-short")), dir.path()).unwrap_err();
        assert!(error.to_string().starts_with("FERRID_KEK: "));
    }
}
