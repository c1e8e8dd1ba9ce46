//! List responses as the marketplace API shapes them: `count`, `next`,
//! `previous`, `results`, with the count also in `X-Result-Count`.

use poem::Request;
use softcat_shared::browse::Page;

use crate::error::ApiError;

/// Count and neighbour-page links of one page.
#[derive(Debug, Clone)]
pub struct PageLinks {
    /// Rows over all pages.
    pub count: u64,
    /// URL of the next page.
    pub next: Option<String>,
    /// URL of the previous page.
    pub previous: Option<String>,
}

impl PageLinks {
    /// Links for `page` of `count` rows, made from the request's own URL.
    pub fn new(request: &Request, base_url: &str, page: Page, count: u64) -> Self {
        let link = |number: u64| {
            let uri = request.uri();
            let mut url = url::Url::parse(&format!("{base_url}{}", uri.path())).ok()?;
            let pairs: Vec<(String, String)> =
                url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes())
                    .filter(|(key, _)| key != "page")
                    .map(|(key, value)| (key.into_owned(), value.into_owned()))
                    .collect();
            {
                let mut query = url.query_pairs_mut();
                query.extend_pairs(pairs);
                query.append_pair("page", &number.to_string());
            }
            Some(url.to_string())
        };
        Self {
            count,
            next: page
                .has_next(count)
                .then(|| link(page.number + 1))
                .flatten(),
            previous: (page.number > 1).then(|| link(page.number - 1)).flatten(),
        }
    }
}

impl PageLinks {
    /// The RFC 8288 `Link` header value for the neighbour pages, if any.
    pub fn header(&self) -> Option<String> {
        let links: Vec<String> = [(&self.next, "next"), (&self.previous, "prev")]
            .into_iter()
            .filter_map(|(url, rel)| url.as_ref().map(|url| format!("<{url}>; rel=\"{rel}\"")))
            .collect();
        (!links.is_empty()).then(|| links.join(", "))
    }
}

/// The page a request asks for.
pub fn page_of(page: Option<u64>, page_size: Option<u64>) -> Result<Page, ApiError> {
    Ok(Page::new(page, page_size)?)
}

/// Declares a list page object and its response (with `X-Result-Count`).
macro_rules! list_response {
    ($page:ident, $response:ident, $item:ty) => {
        #[doc = concat!("One page of ", stringify!($item), " objects.")]
        #[derive(Debug, poem_openapi::Object)]
        pub struct $page {
            /// Rows matching the filters, over all pages.
            pub count: u64,
            /// URL of the next page, if any.
            #[oai(nullable)]
            pub next: Option<String>,
            /// URL of the previous page, if any.
            #[oai(nullable)]
            pub previous: Option<String>,
            /// This page's rows.
            pub results: Vec<$item>,
        }

        #[doc = concat!("A page of ", stringify!($item), " objects; the total count is also in `X-Result-Count`, the neighbour pages in `Link`.")]
        #[derive(poem_openapi::ApiResponse)]
        pub enum $response {
            /// One page.
            #[oai(status = 200)]
            Ok(
                poem_openapi::payload::Json<$page>,
                #[oai(header = "X-Result-Count")] u64,
                /// RFC 8288 links to the next and previous pages.
                #[oai(header = "Link")] Option<String>,
            ),
        }

        impl $response {
            /// The response for one page of rows, each made an object by
            /// `object(base_url, row)`; a page past the last is a 404
            /// naming `page`.
            pub fn from_listing<R>(
                request: &poem::Request,
                state: &$crate::state::AppState,
                page: softcat_shared::browse::Page,
                listing: softcat_shared::browse::Listing<R>,
                object: impl Fn(&str, R) -> $item,
            ) -> Result<Self, $crate::error::ErrorResponse> {
                if page.is_past_end(listing.count) {
                    return Err($crate::error::ApiError::PageNotFound {
                        last: page.last(listing.count),
                    }
                    .into());
                }
                let base = state.base_url(request);
                let links = $crate::listing::PageLinks::new(request, &base, page, listing.count);
                let results = listing.rows.into_iter().map(|row| object(&base, row)).collect();
                let link = links.header();
                Ok(Self::Ok(
                    poem_openapi::payload::Json($page {
                        count: links.count,
                        next: links.next,
                        previous: links.previous,
                        results,
                    }),
                    links.count,
                    link,
                ))
            }
        }
    };
}
pub(crate) use list_response;
