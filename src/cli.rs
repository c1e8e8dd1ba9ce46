//! The command line: roles and operator commands.

use std::path::PathBuf;

use clap::{Arg, ArgAction, ArgMatches, Args, Parser, Subcommand};
use softcat_shared::catalog::CatalogKind;
use softcat_shared::loader::LoadRequestDraft;
use softcat_shared::sources::SourceDefinition;
use softcat_shared::sources::registry::{
    CatalogNaming, OptionKind, OptionValue, OptionValues, SourceOption,
};

/// softcat keeps scientific-software catalogs (EESSI, Spack) in Postgres.
#[derive(Debug, Parser)]
#[command(name = "softcat", version, about)]
pub struct Cli {
    /// Configuration file (default: ./softcat.toml, or $SOFTCAT_CONFIG).
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create the database if needed and apply pending schema migrations.
    Migrate,
    /// Print the effective configuration as JSON (passwords masked), after
    /// every layer: defaults, file, environment.
    Config,
    /// Load a catalog from its source into the database.
    #[command(subcommand)]
    Load(LoadCommand),
    /// Serve the REST API (configuration: `api.*`).
    Api {
        /// Address and port to listen on (overrides `api.listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Run queued jobs (configuration: `jobs.*`); run as many as you like.
    Worker,
    /// Enqueue the daily refresh and cleanup on a timetable
    /// (configuration: `scheduler.*`); replicas enqueue once per tick.
    Scheduler,
    /// The API, a worker and the scheduler in one process (for a laptop or
    /// a demo); applies the schema itself. Without a configured database
    /// it runs an embedded Postgres, without a configured Redis an
    /// in-process queue.
    Standalone {
        /// Load the bundled sample of real EESSI and Spack data first.
        #[arg(long)]
        load_sample: bool,
        /// Where the embedded database keeps its files (default
        /// `$XDG_DATA_HOME/softcat` or `~/.local/share/softcat`).
        #[arg(long)]
        data_dir: Option<std::path::PathBuf>,
        /// Address and port the API listens on (overrides `api.listen`).
        #[arg(long, value_name = "ADDR")]
        listen: Option<String>,
    },
    /// Put a job on the queue for the workers and print its id.
    Enqueue(EnqueueArgs),
    /// Follow and retry jobs.
    #[command(subcommand)]
    Jobs(JobsCommand),
    /// Show the stored catalogs.
    #[command(subcommand)]
    Catalogs(CatalogsCommand),
    /// Read and change the runtime settings of catalog updates.
    #[command(subcommand)]
    Settings(SettingsCommand),
    /// Manage API users.
    #[command(subcommand)]
    Users(UsersCommand),
    /// Manage API tokens.
    #[command(subcommand)]
    Tokens(TokensCommand),
}

/// `softcat enqueue [--json | -q] …`.
#[derive(Debug, Args)]
pub struct EnqueueArgs {
    /// Print the queued job as JSON (its record, with `duplicate`) instead
    /// of a sentence.
    #[arg(long, global = true, conflicts_with = "quiet")]
    pub json: bool,
    /// Print only the job's id.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The job.
    #[command(subcommand)]
    pub command: EnqueueCommand,
}

/// `--json` and `--dry-run` of the load options, as `enqueue load` reads them.
fn enqueue_load_help(command: clap::Command) -> clap::Command {
    command
        .mut_arg("json", |arg| {
            arg.help(
                "Print the queued job as JSON (its record, with `duplicate`) instead of a sentence",
            )
        })
        .mut_arg("dry_run", |arg| {
            arg.help(
                "Queue a load that computes the full statistics and writes nothing \
                 (the job's result holds them: `softcat jobs show ID`)",
            )
        })
}

/// `softcat enqueue …`.
#[derive(Debug, Subcommand)]
pub enum EnqueueCommand {
    /// Load one catalog, with the options of `softcat load`.
    #[command(subcommand, mut_subcommands(enqueue_load_help))]
    Load(LoadCommand),
    /// Load every catalog whose updates are enabled in the settings.
    Refresh,
    /// Remove superseded catalog versions and job records past retention.
    Cleanup,
    /// A job that does nothing, to prove the queue and workers end to end.
    Probe,
}

/// `softcat jobs …`.
#[derive(Debug, Subcommand)]
pub enum JobsCommand {
    /// The newest jobs, with filters.
    List {
        /// `load`, `refresh`, `cleanup` or `probe`.
        #[arg(long)]
        kind: Option<String>,
        /// `queued`, `running`, `succeeded`, `unchanged`, `failed` or `cancelled`.
        #[arg(long)]
        state: Option<String>,
        /// Catalog name of a load.
        #[arg(long)]
        catalog: Option<String>,
        /// Jobs shown (at most 300).
        #[arg(long, default_value_t = 20)]
        limit: u64,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// One job with its parameters and result.
    Show {
        /// The job's id, or its first characters (as long as they name one job).
        #[arg(value_parser = crate::ops::job_id)]
        id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Queue a failed or cancelled job's work again, as a new job.
    Retry {
        /// The job's id, or its first characters (as long as they name one job).
        #[arg(value_parser = crate::ops::job_id)]
        id: String,
    },
}

/// `softcat catalogs …`.
#[derive(Debug, Subcommand)]
pub enum CatalogsCommand {
    /// Every catalog with its package count.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// `softcat settings …`.
#[derive(Debug, Subcommand)]
pub enum SettingsCommand {
    /// Show the effective settings.
    Get {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Change settings: `KEY=VALUE …` (VALUE is JSON where it parses, text
    /// otherwise; `null` resets a key).
    Set {
        /// `SOFTWARE_CATALOG_RETENTION_DAYS=30` …
        #[arg(required = true)]
        assignments: Vec<String>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `softcat users …`.
#[derive(Debug, Subcommand)]
pub enum UsersCommand {
    /// Create a user.
    Create {
        /// Login name.
        username: String,
        /// Staff may change catalogs and create offerings.
        #[arg(long)]
        staff: bool,
        /// Also issue a token for the new user and print only its key
        /// (`TOKEN=$(softcat users create admin --staff --token)`).
        #[arg(long)]
        token: bool,
    },
    /// Every user, with its tokens and the offerings it manages.
    List {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Make a user staff (`--staff`) or not (`--no-staff`); every API
    /// process applies it within a quarter of a second.
    #[command(group = clap::ArgGroup::new("role").required(true).args(["staff", "no_staff"]))]
    Set {
        /// Login name.
        username: String,
        /// Make the user staff.
        #[arg(long)]
        staff: bool,
        /// Make the user a plain user.
        #[arg(long)]
        no_staff: bool,
    },
    /// Delete a user with its tokens and manager roles; its tokens are
    /// refused at once.
    Delete {
        /// Login name.
        username: String,
    },
}

/// `softcat tokens …`.
#[derive(Debug, Subcommand)]
pub enum TokensCommand {
    /// Issue a token for a user and print its key (shown only once).
    Create {
        /// The user's login name.
        username: String,
    },
    /// Every token, or one user's: key prefix, user, issue time (never the key).
    List {
        /// Only this user's tokens.
        username: Option<String>,
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke one token by its key prefix (as `tokens list` shows it) or
    /// whole key, or every token of a user with `--all USER`; every API
    /// process refuses it within a quarter of a second.
    #[command(group = clap::ArgGroup::new("which").required(true).args(["key_prefix", "all"]))]
    Revoke {
        /// The key's first characters (4 to 8) or the whole key.
        key_prefix: Option<String>,
        /// Revoke every token of this user.
        #[arg(long, value_name = "USER")]
        all: Option<String>,
    },
}

/// `softcat load <source> …`: one subcommand per registered source, each
/// with the options every load has, the source's location flag
/// (`--api-url`, `--data-url` …) and the source's own options, all read
/// from the registry.
#[derive(Debug)]
pub struct LoadCommand {
    /// Which source.
    pub kind: CatalogKind,
    /// What the command line gives; the rest comes from the defaults.
    pub draft: LoadRequestDraft,
    /// Print the report as JSON instead of a table.
    pub json: bool,
}

/// The flag of a source's location, without dashes: `api-url`.
pub fn url_flag(kind: CatalogKind) -> String {
    kind.definition().url_key.replace('_', "-")
}

/// The flag that sets a request field, for errors that name it.
pub fn field_flag(kind: CatalogKind, field: &str) -> String {
    let definition = kind.definition();
    if field == "url" {
        return url_flag(kind);
    }
    match definition.option(field) {
        Some(option) => option.flag.to_owned(),
        None => field.replace('_', "-"),
    }
}

fn negated(option: &SourceOption) -> String {
    format!("no-{}", option.flag)
}

fn load_subcommand(definition: &'static SourceDefinition) -> clap::Command {
    let mut command = clap::Command::new(definition.id)
        .about(definition.summary)
        .arg(
            Arg::new("url")
                .long(url_flag(CatalogKind::of(definition)))
                .value_name("URL")
                .help(format!(
                    "{} (default from configuration)",
                    definition.url_help
                )),
        );
    if definition.naming != CatalogNaming::FromDocument {
        command = command
            .arg(
                Arg::new("catalog_name")
                    .long("catalog-name")
                    .help("Catalog name (default from configuration)"),
            )
            .arg(
                Arg::new("catalog_version")
                    .long("catalog-version")
                    .help(format!("Catalog version: {}", definition.version_help)),
            );
    }
    for option in definition.options {
        command = match option.kind {
            OptionKind::Flag => command
                .arg(
                    Arg::new(option.name)
                        .long(option.flag)
                        .action(ArgAction::SetTrue)
                        .overrides_with(negated(option))
                        .help(format!("{} (default from configuration)", option.help)),
                )
                .arg(
                    Arg::new(negated(option))
                        .long(negated(option))
                        .action(ArgAction::SetTrue)
                        .overrides_with(option.name)
                        .help(format!("The opposite of --{}", option.flag)),
                ),
            OptionKind::List => command.arg(
                Arg::new(option.name)
                    .long(option.flag)
                    .action(ArgAction::Append)
                    .value_delimiter(',')
                    .value_name("VALUE")
                    .help(format!(
                        "{} (repeat the flag or separate by commas)",
                        option.help
                    )),
            ),
        };
    }
    let flags = [
        (
            "dry_run",
            "Compute and print the full statistics, write nothing",
        ),
        (
            "update_existing",
            "Bring an existing catalog in line with the source (otherwise an existing \
             catalog is left as it is)",
        ),
        (
            "allow_shrink",
            "Load even if it would delete more of the stored catalog, or skip more of the \
             source, than the configured shares allow (the shrink guard)",
        ),
        ("json", "Print the report as JSON instead of a table"),
    ];
    for (id, help) in flags {
        command = command.arg(
            Arg::new(id)
                .long(id.replace('_', "-"))
                .action(ArgAction::SetTrue)
                .help(help),
        );
    }
    command
}

impl clap::FromArgMatches for LoadCommand {
    fn from_arg_matches(matches: &ArgMatches) -> Result<Self, clap::Error> {
        let Some((name, args)) = matches.subcommand() else {
            return Err(clap::Error::new(clap::error::ErrorKind::MissingSubcommand));
        };
        let kind = CatalogKind::parse(name)
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::InvalidSubcommand))?;
        let text = |id: &str| args.try_get_one::<String>(id).ok().flatten().cloned();
        let flag = |id: &str| args.try_get_one::<bool>(id).ok().flatten() == Some(&true);
        let mut options = OptionValues::new();
        for option in kind.definition().options {
            let value = match option.kind {
                OptionKind::Flag if flag(option.name) => Some(OptionValue::Flag(true)),
                OptionKind::Flag if flag(&negated(option)) => Some(OptionValue::Flag(false)),
                OptionKind::Flag => None,
                OptionKind::List => args
                    .try_get_many::<String>(option.name)
                    .ok()
                    .flatten()
                    .map(|values| OptionValue::List(values.cloned().collect())),
            };
            if let Some(value) = value {
                options.insert(option.name.to_owned(), value);
            }
        }
        Ok(Self {
            kind,
            draft: LoadRequestDraft {
                catalog_name: text("catalog_name"),
                catalog_version: text("catalog_version"),
                url: text("url"),
                options,
                update_existing: flag("update_existing"),
                dry_run: flag("dry_run"),
                allow_shrink: flag("allow_shrink"),
            },
            json: flag("json"),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &ArgMatches) -> Result<(), clap::Error> {
        *self = Self::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Subcommand for LoadCommand {
    fn augment_subcommands(command: clap::Command) -> clap::Command {
        CatalogKind::all().fold(command, |command, kind| {
            command.subcommand(load_subcommand(kind.definition()))
        })
    }

    fn augment_subcommands_for_update(command: clap::Command) -> clap::Command {
        Self::augment_subcommands(command)
    }

    fn has_subcommand(name: &str) -> bool {
        CatalogKind::parse(name).is_some()
    }
}
