//! The embedded database of `softcat standalone` when no database URL is
//! configured: a private Postgres server that softcat initialises, starts
//! and stops itself (postgresql_embedded), its data kept in a directory of
//! the user's between runs. It runs the machine's Postgres binaries when it
//! finds them, and otherwise downloads a build once (from GitHub's
//! theseus-rs/postgresql-binaries). It listens on localhost and on a socket
//! in its own directory, with a password generated on first use; while it
//! runs, its URL is in `<dir>/database_url` for the operator commands.
//!
//! Postgres refuses to run as root. Started by root (a container, a CI
//! runner), softcat itself stays root and runs the server's programs as
//! `nobody`: through wrappers that `setpriv` to that account, with the
//! server's own files (data, socket, password) owned by it. Root's default
//! directory is then `/var/lib/softcat`, which that account can reach.

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
/// The account the server runs as when softcat is started by root.
const UNPRIVILEGED_ACCOUNT: &str = "nobody";
/// Root's directory of the standalone process' own files.
const ROOT_DEFAULT_DIR: &str = "/var/lib/softcat";

/// A running embedded server; [`EmbeddedPostgres::stop`] ends it (and
/// dropping it does too, blocking).
pub struct EmbeddedPostgres {
    server: PostgreSQL,
}

impl EmbeddedPostgres {
    /// Starts the server whose files live under `dir`, creating them on
    /// first use.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        let account = if running_as_root() {
            Some(Account::named(UNPRIVILEGED_ACCOUNT)?)
        } else {
            None
        };
        create_private_dir(dir, account.is_some())?;
        let installation = local_installation();
        let password_file = dir.join("postgres.password");
        let password = password(&password_file)?;
        let mut socket_dir = dir.to_path_buf();
        let (installation_dir, trusted) = match (&account, installation) {
            (Some(account), Some(installation)) => {
                account.check_reaches(dir)?;
                socket_dir = dir.join("run");
                for owned in [dir.join("postgres"), socket_dir.clone()] {
                    create_private_dir(&owned, false)?;
                    account.own(&owned)?;
                }
                account.own(&password_file)?;
                (account.wrap_installation(&installation, dir)?, true)
            }
            (Some(_), None) => bail!(
                "started as root, the embedded database needs the machine's Postgres \
                 (apt install postgresql), or set DATABASE_URL"
            ),
            (None, Some(installation)) => (installation, true),
            (None, None) => (dir.join("postgresql"), false),
        };
        let settings = Settings {
            releases_url: RELEASES_URL.into(),
            version: VersionReq::STAR,
            trust_installation_dir: trusted,
            installation_dir,
            password_file,
            password,
            data_dir: dir.join("postgres"),
            socket_dir: Some(socket_dir),
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
            account = %account.as_ref().map_or("this process's", |account| account.name.as_str()),
            "embedded Postgres started (no database URL configured)"
        );
        Ok(embedded)
    }

    /// The URL of softcat's database on this server (created by
    /// `database::migrate` like any other).
    ///
    /// Over TCP on localhost, not the socket: the printed next steps say
    /// it works for any user, and the socket's directory is the server's
    /// account's alone.
    pub fn url(&self) -> String {
        let settings = self.server.settings();
        format!(
            "postgresql://{}:{}@{}:{}/{DATABASE}",
            settings.username, settings.password, settings.host, settings.port
        )
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
/// `$XDG_DATA_HOME/softcat`, or `~/.local/share/softcat`; for root,
/// `/var/lib/softcat` (root's home is closed to the server's account).
pub fn default_dir() -> anyhow::Result<PathBuf> {
    if running_as_root() {
        return Ok(PathBuf::from(ROOT_DEFAULT_DIR));
    }
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

/// Creates `dir` readable by its owner only; `enterable` lets others pass
/// through it to what they own inside (the server's account as root).
fn create_private_dir(dir: &Path, enterable: bool) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    let mode = if enterable { 0o711 } else { 0o700 };
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, mode);
    builder
        .create(dir)
        .with_context(|| format!("creating {}", dir.display()))?;
    #[cfg(unix)]
    if enterable {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))
            .with_context(|| format!("setting the permissions of {}", dir.display()))?;
    }
    Ok(())
}

/// The unprivileged account the server runs as when softcat is root.
struct Account {
    name: String,
    uid: u32,
    gid: u32,
}

impl Account {
    /// The account called `name`, from `/etc/passwd`.
    fn named(name: &str) -> anyhow::Result<Self> {
        let passwd = std::fs::read_to_string("/etc/passwd").context("reading /etc/passwd")?;
        passwd
            .lines()
            .find_map(|line| {
                let fields: Vec<&str> = line.split(':').collect();
                (fields.len() >= 4 && fields[0] == name).then(|| {
                    Some(Self {
                        name: name.to_owned(),
                        uid: fields[2].parse().ok()?,
                        gid: fields[3].parse().ok()?,
                    })
                })?
            })
            .with_context(|| {
                format!(
                    "started as root, the embedded database runs as {name}, and this machine \
                     has no such account: create it, or set DATABASE_URL"
                )
            })
    }

    /// Makes `path` the account's.
    fn own(&self, path: &Path) -> anyhow::Result<()> {
        std::os::unix::fs::chown(path, Some(self.uid), Some(self.gid))
            .with_context(|| format!("giving {} to {}", path.display(), self.name))
    }

    /// Refuses a directory the account cannot reach (an ancestor others
    /// may not enter, such as root's home).
    fn check_reaches(&self, dir: &Path) -> anyhow::Result<()> {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        for ancestor in dir.ancestors().skip(1) {
            let Ok(metadata) = std::fs::metadata(ancestor) else {
                continue;
            };
            let enterable = metadata.permissions().mode() & 0o001 != 0
                || (metadata.uid() == self.uid && metadata.permissions().mode() & 0o100 != 0);
            if !enterable {
                bail!(
                    "started as root, the embedded database runs as {}, who cannot enter {}: \
                     give --data-dir in a directory others can enter (such as {ROOT_DEFAULT_DIR})",
                    self.name,
                    ancestor.display()
                );
            }
        }
        Ok(())
    }

    /// A directory of programs, owned by root, that run the programs of
    /// `installation` as this account; its path, for the server's settings.
    fn wrap_installation(&self, installation: &Path, dir: &Path) -> anyhow::Result<PathBuf> {
        use std::os::unix::fs::PermissionsExt;
        let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"]
            .into_iter()
            .find(|path| Path::new(path).is_file())
            .context(
                "started as root, the embedded database needs setpriv (util-linux) to run \
                 Postgres unprivileged, or set DATABASE_URL",
            )?;
        let wrapped = dir.join(format!("postgresql-as-{}", self.name));
        let bin = wrapped.join("bin");
        std::fs::create_dir_all(&bin).with_context(|| format!("creating {}", bin.display()))?;
        let programs = std::fs::read_dir(installation.join("bin"))
            .with_context(|| format!("reading {}", installation.join("bin").display()))?;
        for program in programs {
            let program = program?.path();
            let Some(name) = program.file_name() else {
                continue;
            };
            let wrapper = bin.join(name);
            let script = format!(
                "#!/bin/sh\nexec {setpriv} --reuid={} --regid={} --clear-groups -- '{}' \"$@\"\n",
                self.uid,
                self.gid,
                program.display()
            );
            std::fs::write(&wrapper, script)
                .with_context(|| format!("writing {}", wrapper.display()))?;
            std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))?;
        }
        Ok(wrapped)
    }
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
