//! Operator commands over a running installation: `softcat jobs …`,
//! `softcat catalogs list`, `softcat settings …`, `softcat users …`,
//! `softcat tokens …`. Human tables by default, `--json` for scripts.

use anyhow::{Context, bail};
use serde_json::{Map, Value, json};
use softcat_shared::browse::catalogs::{self, CatalogFilter};
use softcat_shared::browse::{MAX_PAGE_SIZE, Page};
use softcat_shared::config::Config;
use softcat_shared::jobs::{self, JobFilter, JobRecord};
use softcat_shared::settings::CatalogSettings;
use uuid::Uuid;

use softcat_shared::accounts;

use crate::cli::{CatalogsCommand, JobsCommand, SettingsCommand, TokensCommand, UsersCommand};

/// `softcat jobs list|show|retry`.
pub async fn jobs(config: &Config, command: JobsCommand) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    match command {
        JobsCommand::List {
            kind,
            state,
            catalog,
            limit,
            json,
        } => {
            let filter = JobFilter {
                kind,
                state,
                catalog,
                parent_id: None,
            };
            let page = Page::new(Some(1), Some(limit.clamp(1, MAX_PAGE_SIZE)))?;
            let listing = jobs::list(&database, &filter, page).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&listing.rows)?);
                return Ok(());
            }
            let rows = listing.rows.iter().map(|job| {
                vec![
                    job.id.to_string(),
                    job.kind.clone(),
                    job.catalog.clone().unwrap_or_default(),
                    job.state.clone(),
                    format!("{}/{}", job.attempts, job.max_attempts),
                    job.created.format("%Y-%m-%d %H:%M:%S").to_string(),
                    outcome(job),
                ]
            });
            print!(
                "{}",
                table(
                    &[
                        "id", "kind", "catalog", "state", "attempts", "created", "outcome"
                    ],
                    rows
                )
            );
            println!("{} of {} jobs", listing.rows.len(), listing.count);
            Ok(())
        }
        JobsCommand::Show { id, json } => {
            let id = resolve_job_id(&database, &id).await?;
            let job = jobs::get(&database, id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&job)?);
            } else {
                print!("{}", describe(&job)?);
            }
            Ok(())
        }
        JobsCommand::Retry { id } => {
            let id = resolve_job_id(&database, &id).await?;
            let job = jobs::get(&database, id).await?;
            if !matches!(job.state.as_str(), "failed" | "cancelled") {
                bail!(
                    "job {id} is {}; only failed or cancelled jobs are retried",
                    job.state
                );
            }
            let spec = job
                .spec()
                .with_context(|| format!("job {id} has unreadable parameters"))?;
            let queue = crate::enqueue::CliQueue::new(config, &database).await?;
            let enqueued = jobs::enqueue(
                &database,
                &queue,
                &spec,
                &format!("retry:{id}"),
                job.parent_id,
                config.jobs.max_attempts,
            )
            .await?;
            if enqueued.duplicate {
                println!("the same work is already queued as job {}", enqueued.job.id);
            } else {
                println!(
                    "queued {} job {} (retry of {id}){}",
                    enqueued.job.kind,
                    enqueued.job.id,
                    queue.runner()
                );
            }
            Ok(())
        }
    }
}

/// The short outcome of a job: its error, or a load's counts.
fn outcome(job: &JobRecord) -> String {
    if let Some(error) = &job.error
        && job.state == "failed"
    {
        return error.chars().take(60).collect();
    }
    let Some(result) = &job.result else {
        return String::new();
    };
    match job.kind.as_str() {
        "load" => {
            let level = |name: &str| {
                let counts = &result[name];
                format!(
                    "{name} +{} ~{} -{}",
                    counts["created"], counts["updated"], counts["deleted"]
                )
            };
            format!(
                "{}, {}, {}",
                level("packages"),
                level("versions"),
                level("targets")
            )
        }
        "cleanup" => format!(
            "{} catalogs, {} jobs removed",
            result["catalogs_removed"].as_array().map_or(0, Vec::len),
            result["jobs_removed"]
        ),
        _ => String::new(),
    }
}

fn describe(job: &JobRecord) -> anyhow::Result<String> {
    let time = |value: Option<chrono::DateTime<chrono::FixedOffset>>| {
        value.map_or_else(|| "-".to_owned(), |time| time.to_rfc3339())
    };
    let mut out = String::new();
    let fields = [
        ("id", job.id.to_string()),
        ("kind", job.kind.clone()),
        ("catalog", job.catalog.clone().unwrap_or_else(|| "-".into())),
        ("state", job.state.clone()),
        (
            "attempts",
            format!("{} of {}", job.attempts, job.max_attempts),
        ),
        ("worker", job.worker.clone().unwrap_or_else(|| "-".into())),
        ("requested by", job.requested_by.clone()),
        ("created", job.created.to_rfc3339()),
        ("started", time(job.started)),
        ("finished", time(job.finished)),
        ("error", job.error.clone().unwrap_or_else(|| "-".into())),
    ];
    for (label, value) in fields {
        out.push_str(&format!("{label:<13} {value}\n"));
    }
    out.push_str(&format!(
        "parameters    {}\n",
        serde_json::to_string(&job.parameters)?
    ));
    if let Some(result) = &job.result {
        out.push_str(&format!(
            "result        {}\n",
            serde_json::to_string_pretty(result)?
        ));
    }
    Ok(out)
}

/// `softcat catalogs list`.
pub async fn catalogs(config: &Config, command: CatalogsCommand) -> anyhow::Result<()> {
    let CatalogsCommand::List { json } = command;
    let database = crate::database::open(config).await?;
    let mut rows = Vec::new();
    for number in 1.. {
        let page = Page::new(Some(number), Some(MAX_PAGE_SIZE))?;
        let listing = catalogs::list_catalogs(&database, &CatalogFilter::default(), page).await?;
        let more = page.has_next(listing.count);
        rows.extend(listing.rows);
        if !more {
            break;
        }
    }
    if json {
        let objects: Vec<Value> = rows
            .iter()
            .map(|row| {
                json!({
                    "uuid": row.uuid, "name": row.name, "version": row.version,
                    "catalog_type": row.catalog_type, "package_count": row.package_count,
                    "source_url": row.source_url, "modified": row.modified,
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&objects)?);
        return Ok(());
    }
    let lines = rows.iter().map(|row| {
        vec![
            row.name.clone(),
            row.version.clone(),
            row.catalog_type.clone(),
            row.package_count.to_string(),
            row.modified.format("%Y-%m-%d %H:%M").to_string(),
            row.uuid.to_string(),
        ]
    });
    print!(
        "{}",
        table(
            &["name", "version", "type", "packages", "modified", "uuid"],
            lines
        )
    );
    Ok(())
}

/// `softcat settings get|set`.
pub async fn settings(config: &Config, command: SettingsCommand) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    let (settings, json) = match command {
        SettingsCommand::Get { json } => (CatalogSettings::read(&database, config).await?, json),
        SettingsCommand::Set { assignments, json } => {
            let mut changes = Map::new();
            for assignment in assignments {
                let Some((key, value)) = assignment.split_once('=') else {
                    bail!("{assignment:?}: expected KEY=VALUE");
                };
                // JSON where it parses (true, 30, null), a string otherwise.
                let value =
                    serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.to_owned()));
                changes.insert(key.trim().to_owned(), value);
            }
            let settings = CatalogSettings::update(&database, config, &changes).await?;
            (settings, json)
        }
    };
    let map = settings.to_map();
    if json {
        println!("{}", serde_json::to_string_pretty(&map)?);
    } else {
        let width = map.keys().map(String::len).max().unwrap_or(0);
        for (key, value) in &map {
            println!("{key:<width$}  {value}");
        }
    }
    Ok(())
}

/// `softcat users create|list|set|delete`.
pub async fn users(config: &Config, command: UsersCommand) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    match command {
        UsersCommand::Create {
            username,
            staff,
            token,
        } => {
            let user = accounts::create_user(&database, &username, staff).await?;
            let role = if user.is_staff { "staff" } else { "user" };
            let created = format!("created {role} {} ({})", user.username, user.uuid);
            if token {
                // The key alone on stdout, for `TOKEN=$(…)`.
                eprintln!("{created}");
                println!(
                    "{}",
                    accounts::create_token(&database, &user.username).await?
                );
            } else {
                println!("{created}");
            }
        }
        UsersCommand::List { json } => {
            let users = accounts::list_users(&database).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&users)?);
                return Ok(());
            }
            let rows = users.iter().map(|user| {
                vec![
                    user.username.clone(),
                    if user.is_staff { "yes" } else { "no" }.to_owned(),
                    user.tokens.to_string(),
                    user.manages.join(", "),
                    user.created.format("%Y-%m-%d %H:%M").to_string(),
                    user.uuid.to_string(),
                ]
            });
            print!(
                "{}",
                table(
                    &["username", "staff", "tokens", "manages", "created", "uuid"],
                    rows
                )
            );
        }
        UsersCommand::Set {
            username, staff, ..
        } => {
            let (user, changed) = accounts::set_staff(&database, &username, staff).await?;
            let role = if user.is_staff {
                "staff"
            } else {
                "a plain user"
            };
            if changed {
                println!("{} is now {role}", user.username);
            } else {
                println!("{} is {role} already", user.username);
            }
        }
        UsersCommand::Delete { username } => {
            let deleted = accounts::delete_user(&database, &username).await?;
            println!(
                "deleted user {} ({} tokens revoked, manager of {} offerings no more)",
                deleted.user.username, deleted.tokens, deleted.offerings
            );
        }
    }
    Ok(())
}

/// `softcat tokens create|list|revoke`.
pub async fn tokens(config: &Config, command: TokensCommand) -> anyhow::Result<()> {
    let database = crate::database::open(config).await?;
    match command {
        TokensCommand::Create { username } => {
            println!("{}", accounts::create_token(&database, &username).await?);
        }
        TokensCommand::List { username, json } => {
            let tokens = accounts::list_tokens(&database, username.as_deref()).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&tokens)?);
                return Ok(());
            }
            let rows = tokens.iter().map(|token| {
                vec![
                    token
                        .key_prefix
                        .clone()
                        .unwrap_or_else(|| "(no prefix)".to_owned()),
                    token.username.clone(),
                    token.created.format("%Y-%m-%d %H:%M:%S").to_string(),
                ]
            });
            print!("{}", table(&["key prefix", "user", "created"], rows));
            println!("{} tokens", tokens.len());
        }
        TokensCommand::Revoke { key_prefix, all } => match (key_prefix, all) {
            (_, Some(username)) => {
                let count = accounts::revoke_all(&database, &username).await?;
                println!("revoked {count} tokens of {username}");
            }
            (Some(prefix), None) => {
                let token = accounts::revoke_token(&database, &prefix).await?;
                println!(
                    "revoked token {} of {}",
                    token.key_prefix.as_deref().unwrap_or("(no prefix)"),
                    token.username
                );
            }
            (None, None) => bail!("give a key prefix or --all USER"),
        },
    }
    Ok(())
}

/// A plain text table: a header, a rule, and left-aligned columns.
fn table(header: &[&str], rows: impl Iterator<Item = Vec<String>>) -> String {
    let header: Vec<String> = header.iter().map(|title| title.to_string()).collect();
    let rows: Vec<Vec<String>> = rows.collect();
    let mut widths: Vec<usize> = header.iter().map(|title| title.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let rule: Vec<String> = widths.iter().map(|width| "-".repeat(*width)).collect();
    let mut out = String::new();
    for cells in [&header, &rule].into_iter().chain(&rows) {
        let padded: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        out.push_str(padded.join("  ").trim_end());
        out.push('\n');
    }
    out
}

/// Checks a job id argument: a whole id or the start of one (hexadecimal
/// digits and hyphens).
pub fn job_id(text: &str) -> Result<String, String> {
    let text = text.trim();
    if text.is_empty() || !text.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        return Err(format!(
            "{text:?} is not a job id (a UUID, or the start of one)"
        ));
    }
    Ok(text.to_ascii_lowercase())
}

/// The one job whose id is `prefix` or starts with it; an unknown or an
/// ambiguous prefix is an error of one line (the latter listing candidates).
pub async fn resolve_job_id(
    database: &sea_orm::DatabaseConnection,
    prefix: &str,
) -> anyhow::Result<Uuid> {
    if let Ok(id) = Uuid::parse_str(prefix) {
        return Ok(id);
    }
    let ids = jobs::ids_with_prefix(database, prefix).await?;
    match ids.as_slice() {
        [] => bail!("no job id starts with {prefix}"),
        [id] => Ok(*id),
        many => {
            let listed: Vec<String> = many.iter().map(Uuid::to_string).collect();
            let more = if many.len() as u64 >= jobs::PREFIX_CANDIDATES {
                ", …"
            } else {
                ""
            };
            bail!("job id {prefix} is ambiguous: {}{more}", listed.join(", "))
        }
    }
}
