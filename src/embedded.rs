//! The embedded database of `softcat standalone` when no database URL is
//! configured: a private Postgres server that softcat initialises, starts
//! and stops itself (postgresql_embedded), its data kept in a directory of
//! the user's between runs. It runs the machine's Postgres binaries when it
//! finds them, and otherwise downloads a build once (from GitHub's
//! theseus-rs/postgresql-binaries). It listens on localhost and on a socket
//! in its own directory, with a password generated on first use; while it
//! runs, its URL is in `<dir>/database_url` for the operator commands.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use postgresql_embedded::{PostgreSQL, Settings, VersionReq};

/// The database softcat uses inside the embedded server.
const DATABASE: &str = "softcat";
/// Time allowed for initdb, start and stop.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(120);
/// The file, in the data directory, holding the running server's URL.
const URL_FILE: &str = "database_url";
/// Where builds are downloaded from when the machine has no Postgres.
const RELEASES_URL: &str = "https://github.com/theseus-rs/postgresql-binaries";

/// A running embedded server; [`EmbeddedPostgres::stop`] ends it (and
/// dropping it does too, blocking).
pub struct EmbeddedPostgres {
    server: PostgreSQL,
}

impl EmbeddedPostgres {
    /// Starts the server whose files live under `dir`, creating them on
    /// first use.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        if running_as_root() {
            bail!(
                "the embedded database cannot run as root (Postgres refuses to): \
                 run standalone as an ordinary user, or set DATABASE_URL"
            );
        }
        create_private_dir(dir)?;
        let installation = local_installation();
        let settings = Settings {
            releases_url: RELEASES_URL.into(),
            version: VersionReq::STAR,
            trust_installation_dir: installation.is_some(),
            installation_dir: installation.unwrap_or_else(|| dir.join("postgresql")),
            password_file: dir.join("postgres.password"),
            password: password(&dir.join("postgres.password"))?,
            data_dir: dir.join("postgres"),
            socket_dir: Some(dir.to_path_buf()),
            host: "localhost".into(),
            port: 0,
            username: postgresql_embedded::BOOTSTRAP_SUPERUSER.into(),
            temporary: false,
            timeout: Some(COMMAND_TIMEOUT),
            configuration: HashMap::from([("listen_addresses".into(), "localhost".into())]),
        };
        let mut server = PostgreSQL::new(settings);
        server
            .setup()
            .await
            .context("preparing the embedded database")?;
        server
            .start()
            .await
            .context("starting the embedded database")?;
        let embedded = Self { server };
        let url_file = dir.join(URL_FILE);
        write_private(&url_file, &embedded.url())
            .with_context(|| format!("writing {}", url_file.display()))?;
        tracing::info!(
            data_dir = %embedded.server.settings().data_dir.display(),
            binaries = %embedded.server.settings().binary_dir().display(),
            url_file = %url_file.display(),
            "embedded Postgres started (no database URL configured)"
        );
        Ok(embedded)
    }

    /// The URL of softcat's database on this server (created by
    /// `database::migrate` like any other).
    pub fn url(&self) -> String {
        self.server.settings().url(DATABASE)
    }

    /// Stops the server, waiting for it to shut down cleanly.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.server
            .stop()
            .await
            .context("stopping the embedded database")?;
        tracing::info!("embedded Postgres stopped");
        Ok(())
    }
}

/// The directory of the standalone process' own files when none is given:
/// `$XDG_DATA_HOME/softcat`, or `~/.local/share/softcat`.
pub fn default_dir() -> anyhow::Result<PathBuf> {
    let base = std::env::var_os("XDG_DATA_HOME")
        .filter(|dir| !dir.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".local/share")))
        .context("neither XDG_DATA_HOME nor HOME is set: give --data-dir")?;
    Ok(base.join("softcat"))
}

/// The machine's own Postgres installation (the directory holding `bin/`),
/// if it has one: the one whose `initdb` and `pg_ctl` are on the PATH
/// (links followed), or else the newest under Debian's `/usr/lib/postgresql`.
fn local_installation() -> Option<PathBuf> {
    let has_tools = |bin: &Path| bin.join("initdb").is_file() && bin.join("pg_ctl").is_file();
    let on_path = std::env::var_os("PATH").and_then(|path| {
        let bin = std::env::split_paths(&path).find(|bin| has_tools(bin))?;
        let initdb = bin.join("initdb").canonicalize().ok()?;
        Some(initdb.parent()?.parent()?.to_path_buf())
    });
    on_path.or_else(|| {
        std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok())
            .filter(|entry| has_tools(&entry.path().join("bin")))
            .max_by_key(|entry| {
                entry
                    .file_name()
                    .to_string_lossy()
                    .parse::<u32>()
                    .unwrap_or(0)
            })
            .map(|entry| entry.path())
    })
}

/// The superuser password: read from `file`, or made up and written there
/// (readable by the owner only) on first use.
fn password(file: &Path) -> anyhow::Result<String> {
    match std::fs::read_to_string(file) {
        Ok(password) => Ok(password.trim().to_owned()),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let password = uuid::Uuid::new_v4().simple().to_string();
            write_private(file, &password)
                .with_context(|| format!("writing {}", file.display()))?;
            Ok(password)
        }
        Err(error) => Err(error).with_context(|| format!("reading {}", file.display())),
    }
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))
}

/// Writes `contents` to `file`, created readable by the owner only.
fn write_private(file: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(file)?.write_all(contents.as_bytes())
}

fn running_as_root() -> bool {
    #[cfg(unix)]
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe {
        libc::geteuid() == 0
    }
    #[cfg(not(unix))]
    false
}
