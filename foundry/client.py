"""Azure ML jobs REST client (control plane, ARM): jobs, and the workspace's computes and
environment versions a run may name.

An explicit retry loop rather than urllib3's Retry: it must honour ARM's
`Retry-After` within a total time budget, retry PUTs (idempotent here: same
name, same body), and be testable with an injected `sleep`.  Every job name is
validated and URL-quoted, so request data can never change an ARM path.  The
Authorization header and tokens are never logged.
"""

from __future__ import annotations

import email.utils
import logging
import random
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote, urlsplit

import requests

from foundry.auth import TokenProvider
from foundry.errors import (
    AzureMLError,
    TransientError,
    from_response,
)
from foundry.jobs import JobView
from foundry.names import validate_job_name
from foundry.workspace import Workspace

log = logging.getLogger("foundry.client")

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
USER_AGENT = "polysync-foundry-sweep/0.1"
MAX_PAGES = 1000


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or HTTP date), None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return None
        if when is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return (parts.scheme.lower(), parts.netloc.lower())


class AzureMLClient:
    """Jobs API of one workspace: get, put, list (paged), cancel; and a job's child runs from
    the run-history data plane."""

    def __init__(
        self,
        workspace: Workspace,
        token_provider: TokenProvider,
        *,
        arm_endpoint: str = "https://management.azure.com",
        api_version: str = "2024-10-01",
        session: requests.Session | None = None,
        max_attempts: int = 6,
        max_total_seconds: float = 120,
        timeout: tuple[float, float] = (5, 30),
        sleep: Callable[[float], None] = time.sleep,
        backoff_base: float = 1.0,
        backoff_cap: float = 30.0,
        rng: random.Random | None = None,
        data_plane_tokens: TokenProvider | None = None,
    ) -> None:
        self.workspace = workspace
        self._tokens = token_provider
        # Run history wants a token for https://ml.azure.com (the SDK's RunHistoryClient scope).
        self._data_plane_tokens = data_plane_tokens or token_provider
        self._history_base: str | None = None  # from the workspace's discovery URL, once per process
        self.arm_endpoint = arm_endpoint.rstrip("/")
        self.api_version = api_version
        self._session = session or requests.Session()
        self.max_attempts = max(1, max_attempts)
        self.max_total_seconds = max_total_seconds
        self.timeout = timeout
        self._sleep = sleep
        self._backoff_base = backoff_base
        self._backoff_cap = backoff_cap
        self._rng = rng or random.Random()
        self._origin = _origin(self.arm_endpoint)

    def __repr__(self) -> str:
        return f"AzureMLClient({self.workspace.arm_id!r}, endpoint={self.arm_endpoint!r})"

    # ------------------------------------------------------------- URLs

    def jobs_url(self, name: str | None = None) -> str:
        base = f"{self.arm_endpoint}{self.workspace.jobs_path}/jobs"
        if name is None:
            return base
        return f"{base}/{quote(validate_job_name(name, 'name'), safe='')}"

    def workspace_url(self, *segments: str) -> str:
        """A URL under the workspace; every segment URL-quoted (never a path of its own)."""
        return f"{self.arm_endpoint}{self.workspace.jobs_path}/" + "/".join(
            quote(s, safe="") for s in segments
        )

    # ------------------------------------------------------------- public API

    def get_job(self, name: str) -> dict[str, Any]:
        """GET one job; NotFoundError when absent."""
        return self._json(self._request("GET", self.jobs_url(name), ok=(200,)))

    def put_job(self, name: str, body: dict[str, Any]) -> dict[str, Any]:
        """Create (or idempotently re-create with the same body) a job; 200 or 201."""
        return self.put_job_answer(name, body)[1]

    def put_job_answer(self, name: str, body: dict[str, Any]) -> tuple[bool, dict[str, Any]]:
        """`put_job`, also saying whether the service created the job (201) or answered for one
        that was there already (200: a re-PUT, e.g. of a PUT whose first answer was lost)."""
        resp = self._request("PUT", self.jobs_url(name), json=body, ok=(200, 201))
        return resp.status_code == 201, self._json(resp)

    def list_child_runs(self, parent: str, *, top: int, max_pages: int) -> tuple[list[dict[str, Any]], bool]:
        """A job's child runs (a sweep's trials) as run history lists them, as
        `jobs.list(parent_job_name=...)` does: at most `top` runs over at most `max_pages` pages.
        Returns (runs, complete); complete is False when a cap stopped the listing."""
        base = self.run_history_base()
        url: str | None = (
            f"{base}/history/v1.0{self.workspace.jobs_path}/runs/{quote(validate_job_name(parent, 'name'), safe='')}"
            "/children"
        )
        params: dict[str, str] = {"$top": str(top)}
        runs: list[dict[str, Any]] = []
        seen: set[str] = set()
        origin = _origin(base)
        pages = 0
        while url:
            if pages >= max_pages:
                return runs, False
            pages += 1
            resp = self._request("GET", url, params=params, ok=(200,), versioned=False, data_plane=True)
            page = self._json(resp)
            runs.extend(run for run in page.get("value") or [] if isinstance(run, dict))
            next_link = page.get("nextLink")
            params = {}  # nextLink carries its own query string
            url = self._check_next_link(next_link, origin) if next_link else None
            if url is not None:
                if url in seen:
                    raise AzureMLError(
                        "The child runs list repeats a page (nextLink loop).", code="PagingLoop", status=502
                    )
                seen.add(url)
        return runs, True

    def run_history_base(self) -> str:
        """The workspace's data-plane endpoint (`api` of its discovery document, as the SDK's
        `_get_workspace_url` reads it), looked up once per process: two calls the first time."""
        if self._history_base is None:
            workspace = self._json(
                self._request("GET", f"{self.arm_endpoint}{self.workspace.jobs_path}", ok=(200,))
            )
            discovery = (workspace.get("properties") or {}).get("discoveryUrl")
            if not isinstance(discovery, str) or not discovery.startswith(("https://", "http://")):
                raise AzureMLError(
                    "The workspace has no discovery URL; its run history cannot be reached.",
                    code="NoDiscoveryUrl",
                    status=502,
                )
            # Unauthenticated, as the SDK's download_text_from_url: no token leaves for this host.
            doc = self._json(self._request("GET", discovery, ok=(200,), versioned=False, authorize=False))
            api = doc.get("api")
            self._history_base = self._check_data_plane(api)
        return self._history_base

    def _check_data_plane(self, api: Any) -> str:
        """Tokens go to https endpoints only (or to the configured ARM endpoint's own host:
        the emulator on loopback)."""
        if not isinstance(api, str):
            raise AzureMLError(
                "The workspace's discovery document names no api endpoint.", code="NoDiscoveryUrl", status=502
            )
        base = api.rstrip("/")
        parts = urlsplit(base)
        if not parts.netloc or parts.query or parts.fragment:
            raise AzureMLError(
                "The workspace's discovery document names a malformed api endpoint.",
                code="NoDiscoveryUrl",
                status=502,
            )
        if parts.scheme.lower() != "https" and _origin(base) != self._origin:
            raise AzureMLError(
                "The workspace's discovery document names a non-https api endpoint; refusing to send a token there.",
                code="NoDiscoveryUrl",
                status=502,
            )
        return base

    def cancel_job(self, name: str) -> None:
        """Request cancellation: 200 or 202 (accepted, the job winds down); NotFoundError on 404."""
        self._request("POST", f"{self.jobs_url(name)}/cancel", ok=(200, 202, 204))

    def list_jobs(
        self,
        job_type: str | None = "Sweep",
        *,
        tag: str | None = None,
        list_view_type: str | None = None,
        on_page: Callable[[], None] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Every job of `job_type`, following `nextLink` over all pages (still filtered client-side:
        the real API has no `$filter`/`$top`). `on_page` is called once per page read (one
        Azure ML call each)."""
        params: dict[str, str] = {}
        if job_type:
            params["jobType"] = job_type
        if tag:
            params["tag"] = tag
        if list_view_type:
            params["listViewType"] = list_view_type
        for job in self._listed(self.jobs_url(), params, "jobs", on_page):
            if job_type and str(JobView.from_rest(job).job_type).lower() != job_type.lower():
                continue
            yield job

    def list_computes(self) -> Iterator[dict[str, Any]]:
        """Every compute of the workspace (all pages)."""
        return self._listed(self.workspace_url("computes"), {}, "computes", None)

    def get_environment_version(self, name: str, version: str) -> dict[str, Any]:
        """GET one environment version; NotFoundError when absent."""
        return self._json(
            self._request("GET", self.workspace_url("environments", name, "versions", version), ok=(200,))
        )

    def environment_has_versions(self, name: str) -> bool:
        """Does the workspace have any version of environment `name` (what `name@latest` needs)?"""
        page = self._json(
            self._request("GET", self.workspace_url("environments", name, "versions"), ok=(200,))
        )
        return bool(page.get("value"))

    def _listed(
        self, first: str, params: dict[str, str], what: str, on_page: Callable[[], None] | None
    ) -> Iterator[dict[str, Any]]:
        """The objects of every page of a list, following `nextLink` (same host only); `on_page`
        is called once per page read."""
        url: str | None = first
        seen: set[str] = set()
        pages = 0
        while url:
            pages += 1
            if pages > MAX_PAGES:
                raise AzureMLError(f"More than {MAX_PAGES} pages of {what}.", code="TooManyPages", status=502)
            page = self._json(self._request("GET", url, params=params, ok=(200,)))
            if on_page is not None:
                on_page()
            for item in page.get("value") or []:
                if isinstance(item, dict):
                    yield item
            next_link = page.get("nextLink")
            params = {}  # nextLink carries its own query string
            url = self._check_next_link(next_link, self._origin) if next_link else None
            if url is not None:
                if url in seen:
                    raise AzureMLError(
                        f"The {what} list repeats a page (nextLink loop).", code="PagingLoop", status=502
                    )
                seen.add(url)

    # ------------------------------------------------------------- plumbing

    @staticmethod
    def _check_next_link(link: Any, origin: tuple[str, str]) -> str:
        if not isinstance(link, str):
            raise AzureMLError(
                "The jobs list returned a malformed nextLink.", code="InvalidNextLink", status=502
            )
        parts = urlsplit(link)
        if (parts.scheme.lower(), parts.netloc.lower()) != origin:
            raise AzureMLError(
                "The jobs list returned a nextLink to another host; refusing to send the token there.",
                code="InvalidNextLink",
                status=502,
            )
        return link

    @staticmethod
    def _json(resp: requests.Response) -> dict[str, Any]:
        try:
            data = resp.json()
        except ValueError:
            raise AzureMLError(
                f"Azure ML answered HTTP {resp.status_code} with a body that is not JSON.",
                code="InvalidResponse",
                status=502,
            ) from None
        if not isinstance(data, dict):
            raise AzureMLError(
                "Azure ML answered with a JSON value that is not an object.",
                code="InvalidResponse",
                status=502,
            )
        return data

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self._backoff_cap, self._backoff_base * (2 ** (attempt - 1)))
        return self._rng.uniform(ceiling / 2, ceiling)

    def _request(
        self,
        method: str,
        url: str,
        *,
        ok: tuple[int, ...],
        json: Any = None,
        params: dict[str, str] | None = None,
        versioned: bool = True,
        data_plane: bool = False,
        authorize: bool = True,
    ) -> requests.Response:
        path = urlsplit(url).path
        query = {"api-version": self.api_version, **(params or {})} if versioned else dict(params or {})
        if versioned and "api-version=" in (urlsplit(url).query or ""):
            query = {}  # nextLink already carries it
        tokens = self._data_plane_tokens if data_plane else self._tokens
        started = time.monotonic()
        waited = 0.0
        refreshed = False
        attempt = 0
        while True:
            attempt += 1
            headers = {
                "Accept": "application/json",
                "User-Agent": USER_AGENT,
                "x-ms-client-request-id": str(uuid.uuid4()),
            }
            if authorize:
                headers["Authorization"] = f"Bearer {tokens.get_token()}"
            error: AzureMLError
            retry_after: float | None = None
            try:
                resp = self._session.request(
                    method, url, params=query or None, json=json, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                log.warning("%s %s -> %s (attempt %d)", method, path, type(exc).__name__, attempt)
                error = TransientError(
                    f"Could not reach Azure ML ({type(exc).__name__}).",
                    code="ConnectionFailed",
                    hint="Azure ML or the network was unavailable; retry later.",
                    status=503,
                )
            else:
                log.info("%s %s -> %d (attempt %d)", method, path, resp.status_code, attempt)
                if resp.status_code in ok:
                    return resp
                error = from_response(resp)
                if resp.status_code == 401 and authorize and not refreshed and hasattr(tokens, "invalidate"):
                    refreshed = True  # a token revoked/expired early: one fresh token, once
                    tokens.invalidate()
                    continue
                if resp.status_code not in RETRY_STATUSES:
                    raise error
                retry_after = parse_retry_after(resp.headers.get("Retry-After"))
            delay = retry_after if retry_after is not None else self._backoff(attempt)
            remaining = self.max_total_seconds - max(time.monotonic() - started, waited)
            if attempt >= self.max_attempts or delay > remaining:
                if retry_after is not None:
                    error.retry_after = retry_after
                    error.hint = f"Azure ML asked to retry after {retry_after:.0f} s; retry later."
                raise error
            log.info("%s %s: retrying in %.2f s", method, path, delay)
            self._sleep(delay)
            waited += delay
