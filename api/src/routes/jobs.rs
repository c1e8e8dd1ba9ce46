//! `/api/admin/jobs/` and `/api/admin/software-catalogs/refresh/`: staff
//! enqueue catalog loads, refreshes and cleanups and follow them. The job
//! records are the answer; workers do the work.

use chrono::{DateTime, FixedOffset};
use poem::Request;
use poem_openapi::param::{Path, Query};
use poem_openapi::payload::Json;
use poem_openapi::{ApiResponse, Object, OpenApi};
use softcat_shared::accounts::User;
use softcat_shared::browse::BadParameter;
use softcat_shared::catalog::CatalogKind;
use softcat_shared::jobs::{self, Enqueued, JobFilter, JobRecord, JobSpec};
use softcat_shared::loader::LoadRequestDraft;
use softcat_shared::settings::{CatalogSettings, check_source_url};
use softcat_shared::sources::registry::OptionValue;
use uuid::Uuid;

use super::{Tag, examples};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::listing::{list_response, page_of};
use crate::registry::{LoadOptionsBody, SourceId};
use crate::state::AppState;

/// One job: what it does, where it is, and how it ended.
#[derive(Debug, Object)]
pub struct Job {
    /// This object's URL.
    pub url: String,
    /// Identity.
    pub id: Uuid,
    /// `load`, `refresh`, `cleanup` or `probe`.
    pub kind: String,
    /// Every parameter the job runs with, defaults filled in.
    pub parameters: serde_json::Value,
    /// The catalog a load brings in line.
    #[oai(nullable)]
    pub catalog: Option<String>,
    /// `queued`, `running`, `succeeded`, `unchanged`, `failed` or `cancelled`.
    pub state: String,
    /// Attempts started so far.
    pub attempts: i32,
    /// Attempts allowed before the job fails for good.
    pub max_attempts: i32,
    /// Phase of a running load.
    #[oai(nullable)]
    pub progress: Option<serde_json::Value>,
    /// Statistics of the finished job (a load's created/updated/unchanged/
    /// deleted/skipped counts per level; a refresh's loads; a cleanup's removals).
    #[oai(nullable)]
    pub result: Option<serde_json::Value>,
    /// Error of the last failed attempt.
    #[oai(nullable)]
    pub error: Option<String>,
    /// Worker that ran the last attempt.
    #[oai(nullable)]
    pub worker: Option<String>,
    /// Who asked for it.
    pub requested_by: String,
    /// The refresh job that enqueued this load.
    #[oai(nullable)]
    pub parent: Option<Uuid>,
    /// When a retry is due.
    #[oai(nullable)]
    pub run_after: Option<DateTime<FixedOffset>>,
    /// Enqueue time.
    pub created: DateTime<FixedOffset>,
    /// Start of the last attempt.
    #[oai(nullable)]
    pub started: Option<DateTime<FixedOffset>>,
    /// End time.
    #[oai(nullable)]
    pub finished: Option<DateTime<FixedOffset>>,
    /// Last change of the record.
    pub modified: DateTime<FixedOffset>,
}

/// What to enqueue.
#[derive(Debug, Object)]
pub struct JobCreate {
    /// `load`, `refresh`, `cleanup` or `probe` (does nothing; proves the
    /// queue and workers end to end).
    #[oai(validator(pattern = "^(load|refresh|cleanup|probe)$"))]
    pub kind: String,
    /// Load only: the catalog source.
    #[oai(nullable)]
    pub source: Option<SourceId>,
    /// Load only: catalog name (default `EESSI` / `Spack`).
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub catalog_name: Option<String>,
    /// Load only: catalog version (default: the setting, else from the source).
    #[oai(validator(max_length = 255, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub catalog_version: Option<String>,
    /// Load only: source URL (default: the `…_API_URL` / `…_DATA_URL` setting).
    #[oai(validator(max_length = 2048, pattern = "^[^\\x00-\\x1F\\x7F]*$"))]
    #[oai(nullable)]
    pub url: Option<String>,
    /// Load only: the source's own options (default: the settings).
    #[oai(nullable)]
    pub options: Option<LoadOptionsBody>,
    /// Load only, EESSI: the same as `options.include_extensions`, as
    /// bodies gave it before sources had options of their own (other
    /// sources ignore it, as they always did).
    #[oai(nullable, deprecated)]
    pub include_extensions: Option<bool>,
    /// Load only: bring an existing catalog in line (default false).
    #[oai(default)]
    pub update_existing: bool,
    /// Load only: compute the statistics, write nothing (default false).
    #[oai(default)]
    pub dry_run: bool,
    /// Load only: load even if the shrink guard would refuse it, because it
    /// deletes or skips more than the configured shares (default false).
    #[oai(default)]
    pub allow_shrink: bool,
}

/// The answer to an enqueue.
#[derive(Debug, Object)]
pub struct JobAccepted {
    /// The job's id.
    pub id: Uuid,
    /// The job's URL, to follow its state.
    pub url: String,
    /// Its state now.
    pub state: String,
    /// `true` when the same work was already queued: this is that job.
    pub duplicate: bool,
}

/// Accepted for the workers.
#[derive(ApiResponse)]
pub enum JobQueued {
    /// Queued (or already queued, see `duplicate`).
    #[oai(status = 202)]
    Accepted(Json<JobAccepted>),
}

list_response!(JobPage, JobList, Job);

/// The job endpoints (staff only).
pub struct JobsApi {
    /// Shared state.
    pub state: AppState,
}

fn job_url(base: &str, id: Uuid) -> String {
    format!("{base}/api/admin/jobs/{id}/")
}

fn job_object(base: &str, job: JobRecord) -> Job {
    Job {
        url: job_url(base, job.id),
        id: job.id,
        kind: job.kind,
        parameters: job.parameters,
        catalog: job.catalog,
        state: job.state,
        attempts: job.attempts,
        max_attempts: job.max_attempts,
        progress: job.progress,
        result: job.result,
        error: job.error,
        worker: job.worker,
        requested_by: job.requested_by,
        parent: job.parent_id,
        run_after: job.run_after,
        created: job.created,
        started: job.started,
        finished: job.finished,
        modified: job.modified,
    }
}

/// Enqueues a job for `user` and answers 202 with where to follow it: the
/// answer of every endpoint that starts work.
pub async fn accept(
    state: &AppState,
    request: &Request,
    spec: JobSpec,
    user: &User,
) -> ApiResult<JobQueued> {
    let Enqueued { job, duplicate } = jobs::enqueue(
        &state.db,
        state.queue.as_ref(),
        &spec,
        &format!("api:{}", user.username),
        None,
        state.config.jobs.max_attempts,
    )
    .await?;
    Ok(JobQueued::Accepted(Json(JobAccepted {
        url: job_url(&state.base_url(request), job.id),
        id: job.id,
        state: job.state,
        duplicate,
    })))
}

impl JobsApi {
    async fn spec_of(&self, body: JobCreate) -> Result<JobSpec, ApiError> {
        match body.kind.as_str() {
            "refresh" => return Ok(JobSpec::Refresh),
            "cleanup" => return Ok(JobSpec::Cleanup),
            "probe" => return Ok(JobSpec::probe()),
            _ => {}
        }
        let Some(SourceId(source)) = body.source else {
            return Err(BadParameter::new(
                "source",
                format!("a load needs one of {}", CatalogKind::ids()),
            )
            .into());
        };
        let settings = CatalogSettings::read(&self.state.db, &self.state.config).await?;
        let mut options = body.options.unwrap_or_default().0;
        // The old body's flag; as before the options, sources without
        // extensions ignore it.
        if let Some(include) = body.include_extensions
            && source.definition().option("include_extensions").is_some()
        {
            options
                .entry("include_extensions".to_owned())
                .or_insert(OptionValue::Flag(include));
        }
        let draft = LoadRequestDraft {
            catalog_name: body.catalog_name,
            catalog_version: body.catalog_version,
            url: body.url,
            options,
            update_existing: body.update_existing,
            dry_run: body.dry_run,
            allow_shrink: body.allow_shrink,
        };
        let url_given = draft.url.is_some();
        let request = draft
            .resolve(source, settings.load_defaults(&self.state.config, source))
            .map_err(|error| {
                let field = match error.field.as_str() {
                    field @ ("catalog_name" | "catalog_version" | "url") => field.to_owned(),
                    option => format!("options.{option}"),
                };
                BadParameter::new(field, error.reason)
            })?;
        if url_given {
            check_source_url("url", &request.url)
                .map_err(|error| BadParameter::new(error.key, error.reason))?;
            request
                .check_local_source()
                .map_err(|error| BadParameter::new(&error.field, error.reason))?;
        }
        Ok(JobSpec::Load(request))
    }
}

#[OpenApi(prefix_path = "/api/admin", tag = "Tag::Jobs")]
impl JobsApi {
    /// Enqueue a job (staff)
    ///
    /// A load of one catalog, a refresh of all enabled catalogs, or a
    /// cleanup. When the same work is already queued, that job is returned
    /// with `duplicate: true` and nothing new is queued.
    #[oai(path = "/jobs/", method = "post", operation_id = "jobs_create")]
    async fn create(
        &self,
        caller: Caller,
        request: &Request,
        body: Json<JobCreate>,
    ) -> ApiResult<JobQueued> {
        let user = caller.require_staff()?;
        let spec = self.spec_of(body.0).await?;
        accept(&self.state, request, spec, user).await
    }

    /// List jobs (staff)
    ///
    /// Newest first.
    #[oai(path = "/jobs/", method = "get", operation_id = "jobs_list")]
    #[allow(clippy::too_many_arguments)]
    async fn list(
        &self,
        caller: Caller,
        request: &Request,
        /// `load`, `refresh`, `cleanup` or `probe`.
        #[oai(example = "examples::job_kind")]
        kind: Query<Option<String>>,
        /// `queued`, `running`, `succeeded`, `unchanged`, `failed` or `cancelled`.
        #[oai(example = "examples::job_state")]
        state: Query<Option<String>>,
        /// Exact catalog name of a load.
        #[oai(example = "examples::catalog_name")]
        catalog: Query<Option<String>>,
        /// Loads enqueued by this refresh job.
        parent: Query<Option<Uuid>>,
        /// Page number, from 1.
        #[oai(example = "examples::page", validator(minimum(value = "1")))]
        page: Query<Option<u64>>,
        /// Rows per page (default 10, at most 300).
        #[oai(example = "examples::page_size", validator(minimum(value = "1")))]
        page_size: Query<Option<u64>>,
    ) -> ApiResult<JobList> {
        caller.require_staff()?;
        let page = page_of(page.0, page_size.0)?;
        let filter = JobFilter {
            kind: kind.0,
            state: state.0,
            catalog: catalog.0,
            parent_id: parent.0,
        };
        let listing = jobs::list(&self.state.db, &filter, page).await?;
        JobList::from_listing(request, &self.state, page, listing, job_object)
    }

    /// Show a job (staff)
    #[oai(path = "/jobs/:id/", method = "get", operation_id = "jobs_retrieve")]
    async fn retrieve(
        &self,
        caller: Caller,
        request: &Request,
        /// The job's id.
        id: Path<Uuid>,
    ) -> ApiResult<Json<Job>> {
        caller.require_staff()?;
        let job = jobs::get(&self.state.db, id.0).await?;
        Ok(Json(job_object(&self.state.base_url(request), job)))
    }

    /// Cancel a queued job (staff)
    ///
    /// Only a job that has not started (or waits for a retry) can be
    /// cancelled; any other state answers 409.
    #[oai(
        path = "/jobs/:id/cancel/",
        method = "post",
        operation_id = "jobs_cancel"
    )]
    async fn cancel(
        &self,
        caller: Caller,
        request: &Request,
        /// The job's id.
        id: Path<Uuid>,
    ) -> ApiResult<Json<Job>> {
        caller.require_staff()?;
        let job = jobs::cancel(&self.state.db, id.0).await?;
        Ok(Json(job_object(&self.state.base_url(request), job)))
    }

    /// Refresh all enabled catalogs now (staff)
    ///
    /// The manual trigger of the daily refresh: enqueues one refresh job,
    /// which enqueues one load per catalog whose updates are enabled.
    #[oai(
        path = "/software-catalogs/refresh/",
        method = "post",
        operation_id = "software_catalogs_refresh"
    )]
    async fn refresh(&self, caller: Caller, request: &Request) -> ApiResult<JobQueued> {
        let user = caller.require_staff()?;
        accept(&self.state, request, JobSpec::Refresh, user).await
    }
}
