"""The provider's connection forms in a real browser: Debian's Chromium driven by Selenium.

For each vendor (``velip``, ``televoips``, ``octopush``, ``kaleyra``) :func:`check_connection_forms`
logs into the Airflow UI (SimpleAuthManager login page), opens *Admin > Connections > Add
Connection*, picks the vendor's connection type and checks the form against what the provider
declares (``ui-field-behaviour`` and ``conn-fields`` of its provider info, the data Airflow 3.2+
builds the form from; the hooks' ``get_ui_field_behaviour`` / ``get_connection_form_widgets``
return the same for 3.1):

* **labels**: every standard field shown and every extra field is on the form under its label,
  on the right input, with the declared placeholder and description;
* **hidden fields**: the standard fields the provider hides are not on the form;
* **masked secrets**: the password field (when shown), every ``format: password`` extra and every
  credential of the vendor (:data:`CREDENTIALS`, kept here so a provider that stops declaring a key
  secret is caught) is an ``<input type="password">``.

It then fills the form, saves it as ``e2e_form_<vendor>``, checks the row in the list and the
stored fields (REST API: type, host, login, extras; secrets only as present, the API masks them),
and runs ``airflow connections test e2e_form_<vendor>`` (the UI's row *Test* button fails on
Airflow 3.3.2 for connections without a port, apache/airflow PR 73298). The CLI tests run in the
background while the next vendor's form is driven. Screenshots of the filled form (one per form
section: the form opens one at a time) and of the saved list go to ``out_dir``, each only after
checking that no secret is readable on the page. The *Extra Fields JSON* section is never opened:
it is a code editor over the whole extra JSON, with no masking of the secret extras.

:func:`check_extra_link` drives the same browser to a finished task instance's *Details* tab and
checks that its extra link (the provider's "Vendor console") is shown under *Extra Links* with the
URL the REST API gives, opening in a new tab.

Nothing is downloaded: the driver is ``/usr/bin/chromedriver`` and the browser
``/usr/bin/chromium`` (Selenium Manager is skipped when the driver path is given). Every wait is
bounded: a vendor's browser part gets :data:`BROWSER_BUDGET` seconds (a watchdog kills the browser
if a WebDriver command hangs past it) and its CLI test ends by :data:`VENDOR_BUDGET` seconds after
the vendor's start. A failed check is a problem in the vendor's :class:`FormResult`,
never an exception; so is an error that stopped the checks.

Run alone (against an api-server and a simulator already running)::

    python -m e2e.forms --base-url http://127.0.0.1:8080 --username admin \\
        --password-file $AIRFLOW_HOME/simple_auth_manager_passwords.json.generated \\
        --simulator-ready /tmp/sim.json --out-dir /tmp/forms   # or --connections values.json
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote

if TYPE_CHECKING:
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.remote.webelement import WebElement

__all__ = [
    "BROWSER_BUDGET",
    "CREDENTIALS",
    "VENDORS",
    "VENDOR_BUDGET",
    "FormResult",
    "FormSpec",
    "LinkResult",
    "check_connection_forms",
    "check_extra_link",
    "form_spec",
    "format_table",
    "main",
    "simulator_connections",
]

#: the vendors, in the order of the table
VENDORS: tuple[str, ...] = ("velip", "televoips", "octopush", "kaleyra")

#: seconds one vendor may take from its start to its CLI test's end (the first one includes the login)
VENDOR_BUDGET = 80.0  # a loaded 2-core machine: `airflow connections test` alone can take 30 s
#: seconds its browser part may take (browser start and login included): the rest is the CLI test's
BROWSER_BUDGET = 40.0

#: the credentials of each vendor: each must be a masked input, whatever the provider declares
CREDENTIALS: dict[str, tuple[str, ...]] = {
    "velip": ("password",),
    "televoips": ("reports_api_key", "messaging_api_key"),
    "octopush": ("password",),
    "kaleyra": ("password",),
}

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
CHROMIUM_FLAGS: tuple[str, ...] = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--password-store=basic",
    "--window-size=1400,1600",
)

#: Airflow's labels of the standard fields a provider can hide or relabel (``description`` is always shown)
STANDARD_LABELS: dict[str, str] = {
    "host": "Host",
    "schema": "Schema",
    "login": "Login",
    "password": "Password",
    "port": "Port",
}
#: the standard fields a form can be filled with (anything else in a vendor's values is an extra)
STANDARD_VALUES = (*STANDARD_LABELS, "description")

SUCCESS_TEXT = "Connection success!"
STEP_TIMEOUT = 15.0
#: the least time a CLI test gets if it starts late (Airflow's CLI takes ~8 s to start)
MIN_CLI_TIMEOUT = 10.0

T = TypeVar("T")
log = logging.getLogger(__name__)


# -- what each form must show -------------------------------------------------------------------------
@dataclass(frozen=True)
class FormSpec:
    """What a vendor's Add Connection form must show, from the provider info."""

    vendor: str
    conn_type: str
    hook_name: str
    #: field -> label: the standard fields shown (relabelled or not) and the extra fields
    labels: dict[str, str]
    #: the standard fields the form must not show
    hidden: tuple[str, ...]
    #: the fields that must be ``type=password`` inputs
    secrets: tuple[str, ...]
    #: the extra fields (stored in ``extra``; inputs ``element_<name>`` in the UI)
    extras: tuple[str, ...]
    #: field -> placeholder declared for a shown standard field
    placeholders: dict[str, str] = field(default_factory=dict)
    #: extra field -> its description (the helper text under it)
    descriptions: dict[str, str] = field(default_factory=dict)


def form_spec(vendor: str) -> FormSpec:
    """The form of ``vendor`` as the provider declares it (``connection-types`` of its provider info).

    :param vendor: a connection type (``velip``, ``televoips``, ``octopush``, ``kaleyra``).
    :raises KeyError: the provider declares no such connection type.
    """
    from airflow_provider_voice.provider_info import provider_info

    entries = {e["connection-type"]: e for e in provider_info()["connection-types"]}
    entry = entries[vendor]
    behaviour = entry.get("ui-field-behaviour") or {}
    hidden = tuple(behaviour.get("hidden-fields") or ())
    relabel = dict(behaviour.get("relabeling") or {})
    conn_fields: dict[str, Any] = dict(entry.get("conn-fields") or {})
    labels = {name: relabel.get(name, default) for name, default in STANDARD_LABELS.items() if name not in hidden}
    labels.update({name: str(spec["label"]) for name, spec in conn_fields.items()})
    secrets = [] if "password" in hidden else ["password"]
    secrets += [name for name, spec in conn_fields.items() if (spec.get("schema") or {}).get("format") == "password"]
    secrets += [name for name in CREDENTIALS.get(vendor, ()) if name not in secrets]
    placeholders = {
        name: str(text)
        for name, text in (behaviour.get("placeholders") or {}).items()
        if name in STANDARD_LABELS and name not in hidden
    }
    return FormSpec(
        vendor=vendor,
        conn_type=entry["connection-type"],
        hook_name=entry["hook-name"],
        labels=labels,
        hidden=hidden,
        secrets=tuple(secrets),
        extras=tuple(conn_fields),
        placeholders=placeholders,
        descriptions={name: str(spec.get("description") or "") for name, spec in conn_fields.items()},
    )


def simulator_connections(base_urls: Mapping[str, str], config: Any | None = None) -> dict[str, dict[str, Any]]:
    """The values to type per vendor against the simulator (the keys ``connection_env()`` of the demo uses).

    :param base_urls: the simulator's ``base_urls`` (its ready file), per vendor and ``kaleyra-obd``.
    :param config: a :class:`~airflow_provider_voice.testing.state.SimulatorConfig` (default: its defaults).
    """
    from airflow_provider_voice.testing.state import SimulatorConfig

    cfg = config or SimulatorConfig()
    return {
        "velip": {"conn_type": "velip", "host": base_urls["velip"], "password": cfg.velip_token},
        "televoips": {
            "conn_type": "televoips",
            "host": base_urls["televoips"],
            "extra": {
                "reports_api_key": cfg.televoips_reports_key,
                "messaging_api_key": cfg.televoips_messaging_key,
            },
        },
        "octopush": {
            "conn_type": "octopush",
            "host": base_urls["octopush"],
            "login": cfg.octopush_login,
            "password": cfg.octopush_key,
        },
        "kaleyra": {
            "conn_type": "kaleyra",
            "host": base_urls["kaleyra"],
            "password": cfg.kaleyra_api_key,
            "extra": {"obd_base_url": base_urls["kaleyra-obd"]},
        },
    }


# -- results ------------------------------------------------------------------------------------------
@dataclass
class FormResult:
    """One vendor's form: each check (``None``: not reached), the problems and the screenshots."""

    vendor: str
    conn_type: str
    conn_id: str
    labels_ok: bool | None = None
    hidden_ok: bool | None = None
    masked_ok: bool | None = None
    saved: bool | None = None
    test_ok: bool | None = None
    problems: list[str] = field(default_factory=list)
    #: the filled form (its Standard Fields section)
    form_screenshot: Path | None = None
    #: the filled Extra Fields section (the form shows one section at a time)
    extra_screenshots: list[Path] = field(default_factory=list)
    #: the connection list after Save
    list_screenshot: Path | None = None
    #: the page when something stopped the checks
    error_screenshot: Path | None = None
    #: the last lines of ``airflow connections test`` (secrets replaced by ``***``)
    test_output: str = ""
    #: wall time from the vendor's start to its last check
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """Every check passed and nothing went wrong."""
        checks = (self.labels_ok, self.hidden_ok, self.masked_ok, self.saved, self.test_ok)
        return all(c is True for c in checks) and not self.problems

    @property
    def screenshots(self) -> list[Path]:
        """The screenshots taken (form, its extra fields, list, error), in that order."""
        shots = [self.form_screenshot, *self.extra_screenshots, self.list_screenshot, self.error_screenshot]
        return [p for p in shots if p is not None]


def format_table(results: Iterable[FormResult], *, with_problems: bool = True) -> str:
    """A plain text table: vendor | labels | hidden fields | masked secrets | saved | connections test.

    ``ok``/``FAIL`` per check, ``-`` for a check not reached; then each vendor's wall time.

    :param results: the results of :func:`check_connection_forms`.
    :param with_problems: list each vendor's problems under the table.
    """
    results = list(results)
    header = ("vendor", "labels", "hidden fields", "masked secrets", "saved", "connections test", "time")

    def cell(value: bool | None) -> str:
        return "-" if value is None else ("ok" if value else "FAIL")

    rows = [
        (
            r.vendor,
            cell(r.labels_ok),
            cell(r.hidden_ok),
            cell(r.masked_ok),
            cell(r.saved),
            cell(r.test_ok),
            f"{r.seconds:.1f} s",
        )
        for r in results
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]

    def line(row: tuple[str, ...]) -> str:
        return " | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()

    out = [line(header), "-+-".join("-" * w for w in widths)] + [line(row) for row in rows]
    if with_problems:
        for r in results:
            out += [f"{r.vendor}: {p}" for p in r.problems]
    return "\n".join(out)


# -- the run ------------------------------------------------------------------------------------------
def check_connection_forms(
    *,
    base_url: str,
    username: str,
    password: str,
    out_dir: Path,
    airflow_env: dict[str, str],
    airflow_bin: str,
    connections: dict[str, dict[str, Any]],
) -> list[FormResult]:
    """Check, fill, save and test the Add Connection form of each vendor in ``connections``.

    :param base_url: the Airflow api-server (UI) URL, e.g. ``http://127.0.0.1:8080``.
    :param username: a SimpleAuthManager user allowed to create connections.
    :param password: its password.
    :param out_dir: where the screenshots go (created).
    :param airflow_env: the whole environment of ``airflow connections test`` (``PATH`` added if missing).
    :param airflow_bin: the ``airflow`` executable.
    :param connections: vendor -> the values to type: ``host``, ``login``, ``password``, ``schema``,
        ``port``, ``description``, and ``extra`` (a dict or a JSON string) or extra fields at the top level;
        ``conn_type``, if given, must be the vendor (the ``AIRFLOW_CONN_*`` JSON of a vendor fits).
    :returns: one result per vendor, in :data:`VENDORS` order (then any other vendor given).
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/")
    env = dict(airflow_env)
    env.setdefault("PATH", os.environ.get("PATH", "/usr/bin:/bin"))
    order = [v for v in VENDORS if v in connections] + [v for v in connections if v not in VENDORS]
    browser = _Browser()
    runs: list[_VendorRun] = []
    try:
        for vendor in order:
            run = _VendorRun(vendor, dict(connections[vendor]), base_url, username, password, out_dir)
            run.browse(browser)  # meanwhile the previous vendor's CLI test runs
            if runs:
                runs[-1].finish()  # one CLI test at a time: Airflow's CLI start is CPU-bound
            runs.append(run)
            run.start_cli_test(airflow_bin, env)
    except BaseException:  # interrupted: no CLI test left behind
        for run in runs:
            if run.cli is not None:
                run.cli.kill()
        raise
    finally:
        browser.close()
        for run in runs:  # each bounded by its own deadline; a no-op for those already finished
            run.finish()
    return [run.result for run in runs]


class _Budget:
    """A vendor's time budget: every wait is the smaller of its own timeout and what is left."""

    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def timeout(self, seconds: float = STEP_TIMEOUT) -> float:
        left = self.left()
        if left <= 0.5:
            raise TimeoutError(f"the {BROWSER_BUDGET:.0f} s budget of this vendor's browser part is spent")
        return min(seconds, left)


class _Redactor:
    """Replaces every secret value by ``***`` in text recorded in a result."""

    def __init__(self, secrets: Iterable[str]) -> None:
        self.secrets = sorted({s for s in secrets if s and len(s) >= 3}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "***")
        return text

    def found_in(self, text: str) -> bool:
        return any(secret in text for secret in self.secrets)


def _first_line(text: str, limit: int = 300) -> str:
    lines = text.strip().splitlines()
    return lines[0][:limit] if lines else ""


def _split_values(vendor: str, values: dict[str, Any], spec: FormSpec) -> tuple[dict[str, str], dict[str, str]]:
    """(standard field -> text, extra field -> text) to type; unknown keys are refused."""
    values = dict(values)
    conn_type = values.pop("conn_type", None)
    if conn_type not in (None, vendor):
        raise ValueError(f"the values given for {vendor} are of conn_type {conn_type!r}")
    extra = values.pop("extra", None) or {}
    if isinstance(extra, str):
        extra = json.loads(extra)
    standard = {k: str(values.pop(k)) for k in STANDARD_VALUES if values.get(k) is not None}
    extras = {k: str(v) for k, v in {**extra, **values}.items() if v is not None}
    unknown = sorted(set(extras) - set(spec.extras))
    if unknown:
        raise ValueError(
            f"the {vendor} form has no field {', '.join(unknown)} (extra fields: {', '.join(spec.extras) or 'none'})"
        )
    return standard, extras


def _secret_values(vendor: str, values: Mapping[str, Any], ui_password: str) -> list[str]:
    """Every value that must never be recorded: the UI password, the password and the vendor's keys."""
    extra = values.get("extra")
    try:
        extra_values = json.loads(extra) if isinstance(extra, str) else dict(extra or {})
    except ValueError:
        extra_values = {}
    found = [ui_password]
    for name in ("password", *CREDENTIALS.get(vendor, ())):
        for source in (values, extra_values):
            if source.get(name):
                found.append(str(source[name]))
    for source in (values, extra_values):  # anything named like a secret, for the redaction only
        found += [str(v) for k, v in source.items() if v and re.search(r"key|token|secret|password", k, re.I)]
    return found


class _VendorRun:
    """One vendor: its browser part, then its CLI test (started in the background), then the result."""

    def __init__(
        self, vendor: str, values: dict[str, Any], base_url: str, username: str, password: str, out_dir: Path
    ) -> None:
        self.vendor = vendor
        self.values = values
        self.base_url = base_url
        self.username = username
        self.password = password
        self.out_dir = out_dir
        self.started = time.monotonic()
        self.budget = _Budget(BROWSER_BUDGET)
        self.deadline = self.started + VENDOR_BUDGET
        self.result = FormResult(vendor=vendor, conn_type=vendor, conn_id=f"e2e_form_{vendor}")
        self.redact = _Redactor(_secret_values(vendor, values, password))
        self.rest: _Rest | None = None
        self.cli: _CliTest | None = None
        self.finished = False
        self.browsed = self.started

    def stopped(self, err: BaseException) -> None:
        self.result.problems.append(f"stopped: {type(err).__name__}: {_first_line(str(err))}")

    def browse(self, browser: _Browser) -> None:
        """Login if needed, the form's checks, fill and save, then the stored fields."""
        result = self.result
        try:
            spec = form_spec(self.vendor)
            result.conn_type = spec.conn_type
            standard, extras = _split_values(self.vendor, self.values, spec)
            self.rest = _Rest(self.base_url, self.username, self.password)
            self.rest.delete_connection(result.conn_id)  # a previous run's: Save would be refused
            driver, fresh = browser.open(self.budget)
            form = _FormRun(driver, spec, result, self.budget, self.redact, self.base_url, self.out_dir)
            try:
                form.run(self.username, self.password, fresh, {**standard, **extras})
            except Exception:
                browser.close()  # the next vendor starts from a fresh browser
                raise
            finally:
                browser.disarm()
            if result.saved is not True:
                browser.close()  # a form may still be open over the page
            if result.saved:
                _check_stored(self.rest, result.conn_id, spec, standard, extras, result)
        except Exception as err:  # recorded: the table must show every vendor
            self.stopped(err)
        self.browsed = time.monotonic()
        log.debug("%s: browser part done at %.1f s", self.vendor, self.browsed - self.started)

    def start_cli_test(self, airflow_bin: str, env: dict[str, str]) -> None:
        """Start ``airflow connections test`` if the connection exists (saved, or saved but wrong)."""
        if self.rest is None:
            return
        if not self.result.saved and not _connection_exists(self.rest, self.result.conn_id):
            return
        try:
            self.cli = _CliTest(
                airflow_bin, self.result.conn_id, env, max(MIN_CLI_TIMEOUT, self.deadline - time.monotonic())
            )
        except Exception as err:
            self.result.test_ok = False
            self.stopped(err)

    def finish(self) -> None:
        """Wait for the CLI test (bounded), then redact and time the result (once)."""
        if self.finished:
            return
        self.finished = True
        if self.cli is not None:
            try:
                self.cli.finish(self.result, self.redact)
            except Exception as err:
                self.result.test_ok = False
                self.stopped(err)
            log.debug("%s: airflow connections test %.1f s", self.vendor, self.cli.seconds)
        self.result.problems = [self.redact(p) for p in self.result.problems]
        self.result.test_output = self.redact(self.result.test_output)
        self.result.seconds = (self.browsed if self.cli is None else self.cli.ended) - self.started


# -- the browser --------------------------------------------------------------------------------------
class _Browser:
    """Headless Chromium with a fresh profile, shared by the vendors until one goes wrong.

    :meth:`open` arms a watchdog that kills the browser's process group when the vendor's budget
    (plus a grace) is over, so a hung WebDriver command fails instead of blocking the run.
    """

    def __init__(self) -> None:
        self.driver: WebDriver | None = None
        self.service: Service | None = None
        self.profile: str | None = None
        self.watchdog: threading.Timer | None = None

    def open(self, budget: _Budget) -> tuple[WebDriver, bool]:
        """The browser (started if needed: then ``fresh``, not logged in) with the watchdog armed."""
        fresh = self.driver is None
        if self.driver is None:
            self.start()
        self.disarm()
        self.watchdog = threading.Timer(budget.left() + 10.0, self.kill)
        self.watchdog.daemon = True
        self.watchdog.start()
        assert self.driver is not None
        return self.driver, fresh

    def start(self) -> None:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service

        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise FileNotFoundError(f"{path} is missing (Debian packages chromium and chromium-driver)")
        self.profile = tempfile.mkdtemp(prefix="e2e-forms-chromium-")
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={self.profile}")
        # the driver path given: Selenium Manager is never run; its own session: one group to kill
        self.service = Service(executable_path=CHROMEDRIVER, popen_kw={"start_new_session": True})
        self.driver = webdriver.Chrome(service=self.service, options=options)
        self.driver.set_page_load_timeout(20)
        self.driver.set_script_timeout(10)
        self.driver.implicitly_wait(0)

    def disarm(self) -> None:
        if self.watchdog is not None:
            self.watchdog.cancel()
            self.watchdog = None

    def kill(self) -> None:
        """SIGKILL the process group chromedriver leads (it started it: ``start_new_session``)."""
        process = getattr(self.service, "process", None)
        if process is not None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(process.pid, signal.SIGKILL)

    def close(self) -> None:
        """Quit the browser; kill whatever is left of its process group; remove the profile."""
        self.disarm()
        if self.driver is not None:
            with contextlib.suppress(Exception):
                self.driver.quit()
        elif self.service is not None:
            with contextlib.suppress(Exception):
                self.service.stop()
        self.kill()
        if self.profile is not None:
            shutil.rmtree(self.profile, ignore_errors=True)
        self.driver = self.service = self.profile = None


#: the page's visible text and the value of every shown input that is not a password
_PAGE_TEXTS = """
const texts = [document.body.innerText];
for (const e of document.querySelectorAll("input, textarea")) {
  if ((e.type || "").toLowerCase() !== "password" && e.getClientRects().length > 0) texts.push(e.value || "");
}
return texts;
"""


def _norm(text: str | None) -> str:
    """A label as shown: whitespace collapsed, the required marker dropped."""
    return re.sub(r"\s+", " ", (text or "").replace("*", " ")).strip()


def _xpath_literal(text: str) -> str:
    if "'" not in text:
        return f"'{text}'"
    if '"' not in text:
        return f'"{text}"'
    parts = text.split("'")
    return "concat(" + ', "\'", '.join(f"'{p}'" for p in parts) + ")"


@dataclass
class _Control:
    """One field of the form: its label, its input, the input's name, type, placeholder and helper text."""

    label: str
    element: WebElement
    name: str
    type: str
    placeholder: str
    helper: str


class _Page:
    """A page of the Airflow UI in the browser: bounded waits, shown elements, the login."""

    def __init__(self, driver: WebDriver, budget: _Budget, base_url: str) -> None:
        self.d = driver
        self.budget = budget
        self.base_url = base_url

    def until(self, what: str, condition: Callable[[WebDriver], Any], seconds: float = STEP_TIMEOUT) -> Any:
        """Poll ``condition`` until it is truthy (bounded by ``seconds`` and the vendor's budget)."""
        from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
        from selenium.webdriver.support.ui import WebDriverWait

        wait = WebDriverWait(
            self.d,
            self.budget.timeout(seconds),
            poll_frequency=0.2,
            ignored_exceptions=(StaleElementReferenceException,),
        )
        try:
            return wait.until(condition)
        except TimeoutException:
            raise TimeoutError(f"timed out waiting for {what} (page {self.d.current_url})") from None

    def shown(self, css: str, root: Any = None) -> list[WebElement]:
        """The displayed elements matching ``css`` under ``root`` (default: the page)."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        found = []
        for element in (root or self.d).find_elements(By.CSS_SELECTOR, css):
            with contextlib.suppress(StaleElementReferenceException):
                if element.is_displayed():
                    found.append(element)
        return found

    def shown_text(self, tags: str, text: str, root: Any = None) -> list[WebElement]:
        """The displayed ``tags`` (XPath names, ``a|button``) whose whitespace-normalized text is ``text``."""
        from selenium.common.exceptions import StaleElementReferenceException
        from selenium.webdriver.common.by import By

        names = " or ".join(f"self::{t}" for t in tags.split("|"))
        xpath = f".//*[({names}) and normalize-space(.)={_xpath_literal(text)}]"
        found = []
        for element in (root or self.d).find_elements(By.XPATH, xpath):
            with contextlib.suppress(StaleElementReferenceException):
                if element.is_displayed():
                    found.append(element)
        return found

    def login(self, username: str, password: str) -> None:
        from selenium.webdriver.common.by import By

        self.d.get(self.base_url + "/")
        self.until("the login page", lambda d: "/auth/login" in d.current_url and self.shown("input[name=username]"))
        self.d.find_element(By.CSS_SELECTOR, "input[name=username]").send_keys(username)
        self.d.find_element(By.CSS_SELECTOR, "input[name=password]").send_keys(password)
        submit = self.until(
            "the Sign in button", lambda d: [b for b in self.shown("button[type=submit]") if b.is_enabled()]
        )
        submit[0].click()
        self.until(
            "the UI after login (wrong username or password?)",
            lambda d: "/auth/login" not in d.current_url and self.shown("button[aria-label=Admin]"),
        )


class _FormRun(_Page):
    """The browser part of one vendor: login, Add Connection, checks, fill, save, list."""

    def __init__(
        self,
        driver: WebDriver,
        spec: FormSpec,
        result: FormResult,
        budget: _Budget,
        redact: _Redactor,
        base_url: str,
        out_dir: Path,
    ) -> None:
        super().__init__(driver, budget, base_url)
        self.spec = spec
        self.result = result
        self.redact = redact
        self.out_dir = out_dir

    # -- helpers --------------------------------------------------------------------------------------
    def dialog(self) -> WebElement:
        """The Add Connection dialog (the one modal shown)."""
        dialogs: list[WebElement] = self.until("the Add Connection dialog", lambda d: self.shown("[role=dialog]"))
        return dialogs[0]

    def screenshot(self, name: str) -> Path | None:
        """A PNG of the page, unless a secret is readable on it (then a problem, no file)."""
        if self.secret_on_page():
            self.result.problems.append(f"a secret is readable on the page: no {name} screenshot")
            return None
        path = self.out_dir / f"{self.spec.vendor}-{name}.png"
        self.d.save_screenshot(str(path))
        return path

    def secret_on_page(self) -> bool:
        """Whether any secret is in the page's text or in a shown input that is not ``type=password``."""
        texts = self.d.execute_script(_PAGE_TEXTS)
        return any(self.redact.found_in(str(t or "")) for t in texts or ())

    def step(self, title: str, action: Callable[..., T], *args: Any) -> T:
        started = time.monotonic()
        try:
            return action(*args)
        finally:
            log.debug("%s: %s %.1f s", self.spec.vendor, title, time.monotonic() - started)

    # -- the steps ------------------------------------------------------------------------------------
    def run(self, username: str, password: str, fresh: bool, values: dict[str, str]) -> None:
        """Every step; on an error, a screenshot (if no secret shows) and the error goes up."""
        try:
            if fresh:
                self.step("login", self.login, username, password)
            self.step("Admin > Connections > Add Connection", self.open_add_connection)
            self.step("pick the connection type", self.pick_type)
            controls, labels = self.step("walk and fill the form", self.walk_form, values)
            self.check_labels(controls)
            self.check_hidden(controls, labels)
            self.check_masked(controls)
            self.step("save", self.save)
            if self.result.saved:
                self.result.list_screenshot = self.screenshot("list")
        except Exception:
            with contextlib.suppress(Exception):
                self.result.error_screenshot = self.screenshot("error")
            raise

    def open_add_connection(self) -> None:
        """Admin > Connections > Add Connection, through the menus as a user would."""
        self.until("the Admin menu", lambda d: self.shown("button[aria-label=Admin]"))[0].click()
        item = self.until(
            "Admin > Connections",
            lambda d: [e for e in self.shown("[role=menuitem]") if _norm(e.text) == "Connections"],
        )
        item[0].click()
        self.until("the Connections page", lambda d: d.current_url.split("?")[0].rstrip("/").endswith("/connections"))
        self.until("the Add Connection button", lambda d: self.shown_text("button", "Add Connection"))[0].click()
        self.dialog()

    def pick_type(self) -> None:
        """Type the connection id and choose the connection type."""
        from selenium.webdriver.common.by import By

        dialog = self.dialog()
        dialog.find_element(By.CSS_SELECTOR, "input[name=connection_id]").send_keys(self.result.conn_id)
        combo = self.group(dialog, "Connection Type").find_element(By.CSS_SELECTOR, "input[role=combobox]")
        combo.send_keys(self.spec.hook_name)
        self.choose(self.spec.hook_name, f"the connection type option {self.spec.hook_name!r}")
        self.until("the Standard Fields of the form", lambda d: self.shown("button[data-part=item-trigger]", dialog))

    def options(self, text: str) -> list[WebElement]:
        """The shown options of an open select whose text is ``text``."""
        return [o for o in self.shown("[role=option]") if _norm(o.text) == text]

    def choose(self, text: str, what: str) -> None:
        """Click the option ``text`` of the select just typed into."""
        option: list[WebElement] = self.until(what, lambda d: self.options(text))
        option[0].click()

    def walk_form(self, values: dict[str, str]) -> tuple[dict[str, _Control], set[str]]:
        """Open each section of the form in turn (one is open at a time), read its fields and fill them.

        :returns: the fields by name and every label shown.
        """
        dialog = self.dialog()
        sections = ["Standard Fields"] + (["Extra Fields"] if self.spec.extras else [])
        controls: dict[str, _Control] = {}
        labels: set[str] = set()
        for i, title in enumerate(sections):
            region = self.expand(dialog, title)
            if region is None:
                continue
            found = self.controls(region)
            labels |= {_norm(label.text) for label in self.shown("label", region)}
            controls.update(found)
            self.fill(found, {k: v for k, v in values.items() if k in found})
            shot = self.screenshot("form" if i == 0 else "form-extra")
            if i == 0:
                self.result.form_screenshot = shot
            elif shot is not None:
                self.result.extra_screenshots.append(shot)
        for name in values:
            if name not in controls:
                self.result.problems.append(f"cannot fill {name}: not on the form")
        return controls, labels

    def group(self, dialog: WebElement, label: str) -> WebElement:
        for group in self.shown("[role=group]", dialog):
            labels = self.shown("label", group)
            if labels and _norm(labels[0].text) == label:
                return group
        raise LookupError(f"no field labelled {label!r} on the form")

    def expand(self, dialog: WebElement, title: str) -> WebElement | None:
        """Open the section ``title`` of the form: its content, or ``None`` (a problem) if there is none."""
        from selenium.webdriver.common.by import By

        triggers = [t for t in self.shown("button[data-part=item-trigger]", dialog) if _norm(t.text) == title]
        if not triggers:
            self.result.problems.append(f"the form has no {title!r} section")
            return None
        trigger = triggers[0]
        if trigger.get_attribute("aria-expanded") != "true":
            trigger.click()
        region = self.d.find_element(By.ID, trigger.get_attribute("aria-controls") or "")
        self.until(
            f"the {title!r} section to open",
            lambda d: trigger.get_attribute("aria-expanded") == "true" and region.is_displayed(),
        )
        time.sleep(0.3)  # the opening animation: its fields become displayed
        return region

    def controls(self, region: WebElement) -> dict[str, _Control]:
        """Every labelled field shown in ``region``, by field name (``element_x`` -> ``x``)."""
        from selenium.webdriver.common.by import By

        found: dict[str, _Control] = {}
        for group in self.shown("[role=group]", region):
            labels = self.shown("label", group)
            inputs = [
                i
                for i in group.find_elements(By.CSS_SELECTOR, "input, textarea")
                if i.get_attribute("name") or i.get_attribute("role") == "combobox"
            ]
            if not labels or not inputs:
                continue
            named = [i for i in inputs if i.get_attribute("name")] or inputs
            element = next((i for i in named if i.is_displayed()), named[0])
            name = (element.get_attribute("name") or element.get_attribute("id") or "").removeprefix("element_")
            if name in ("connection_id", ""):
                continue
            helper = " ".join(_norm(h.text) for h in self.shown("[data-part=helper-text]", group))
            control = _Control(
                label=_norm(labels[0].text),
                element=element,
                name=name,
                type=(element.get_attribute("type") or "").lower(),
                placeholder=element.get_attribute("placeholder") or "",
                helper=helper,
            )
            combo = group.find_elements(By.CSS_SELECTOR, "input[role=combobox]")
            if combo:  # a select (an enum extra): typed into its combobox
                control.element, control.type = combo[0], "select"
            found[name] = control
        return found

    def check_labels(self, controls: dict[str, _Control]) -> None:
        """Each declared label on the right field, with its placeholder and description."""
        problems = []
        by_label = {c.label: c for c in controls.values()}
        for name, label in self.spec.labels.items():
            control = controls.get(name)
            if control is None:
                where = f"on field {by_label[label].name}, not {name}" if label in by_label else f"({name}) not shown"
                problems.append(f"label {label!r} is {where}")
                continue
            if control.label != label:
                problems.append(f"field {name} is labelled {control.label!r}, not {label!r}")
            placeholder = self.spec.placeholders.get(name)
            if placeholder is not None and control.placeholder != placeholder:
                problems.append(f"field {name} has placeholder {control.placeholder!r}, not {placeholder!r}")
            description = _norm(self.spec.descriptions.get(name))
            if description and description not in control.helper:
                problems.append(f"field {name} does not show its description {description[:40]!r}...")
        self.result.labels_ok = not problems
        self.result.problems += problems

    def check_hidden(self, controls: dict[str, _Control], shown_labels: set[str]) -> None:
        """No hidden standard field on the form, by input name or by Airflow's label."""
        problems = []
        expected = set(self.spec.labels.values())
        for name in self.spec.hidden:
            if name in controls:
                problems.append(f"hidden field {name} is on the form ({controls[name].label!r})")
            elif name in STANDARD_LABELS and STANDARD_LABELS[name] in shown_labels - expected:
                problems.append(f"hidden field {name}: a {STANDARD_LABELS[name]!r} label is on the form")
        self.result.hidden_ok = not problems
        self.result.problems += problems

    def check_masked(self, controls: dict[str, _Control]) -> None:
        """Each secret is an ``<input type="password">``."""
        problems = []
        for name in self.spec.secrets:
            control = controls.get(name)
            if control is None:
                problems.append(f"secret {name} is not on the form")
            elif control.type != "password":
                problems.append(f"secret {name} ({control.label!r}) is a {control.type or 'text'} input, not password")
        self.result.masked_ok = not problems
        self.result.problems += problems

    def fill(self, controls: dict[str, _Control], values: dict[str, str]) -> None:
        from selenium.webdriver.common.keys import Keys

        for name, text in values.items():
            control = controls[name]
            element = control.element
            if control.type == "select":
                element.send_keys(text)
                self.choose(text, f"the option {text!r} of {name}")
                continue
            element.click()
            element.send_keys(Keys.CONTROL, "a")
            element.send_keys(Keys.DELETE)
            element.send_keys(text)
            if element.get_attribute("value") != text:  # compared, never shown
                self.result.problems.append(f"field {name} does not hold the typed value")

    def save(self) -> None:
        """Click Save; the dialog must close and the connection be listed."""
        dialog = self.dialog()
        button = self.until(
            "an enabled Save button", lambda d: [b for b in self.shown_text("button", "Save", dialog) if b.is_enabled()]
        )
        button[0].click()
        try:
            self.until("the form to close after Save", lambda d: not self.shown("[role=dialog]"))
        except TimeoutError:
            text = " ".join(_norm(e.text) for e in self.shown("[role=alert], [data-part=error-text]"))
            self.result.saved = False
            self.result.problems.append(f"Save did not close the form{': ' + text if text else ''}")
            return
        conn_id = self.result.conn_id
        try:
            self.until(f"{conn_id} in the connection list", lambda d: self.shown_text("a|td|span|p|div", conn_id))
            self.result.saved = True
        except TimeoutError:
            self.result.saved = False
            self.result.problems.append(f"{conn_id} is not in the connection list after Save")


# -- the extra link of a finished task ----------------------------------------------------------------
@dataclass
class LinkResult:
    """The extra-link check of one task instance: the link shown on its page and where it points."""

    dag_id: str
    run_id: str
    task_id: str
    #: the link's name (its button text)
    name: str
    #: the URL it must point at (what the REST API's ``/links`` says)
    expected: str
    #: the ``href`` of the link shown (None: not found)
    href: str | None = None
    #: its ``target`` (``_blank``: an external site opens in a new tab)
    target: str | None = None
    problems: list[str] = field(default_factory=list)
    screenshot: Path | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """The link is on the page, points at ``expected`` and opens in a new tab."""
        return self.href == self.expected and self.target == "_blank" and not self.problems


def check_extra_link(
    *,
    base_url: str,
    username: str,
    password: str,
    dag_id: str,
    run_id: str,
    task_id: str,
    name: str,
    expected: str,
    out_dir: Path,
    secrets: Iterable[str] = (),
) -> LinkResult:
    """Log in, open the task instance's page (``/dags/<dag>/runs/<run>/tasks/<task>``), its *Details* tab,
    and find the extra link ``name`` under *Extra Links*: an ``<a>`` with that text whose ``href`` is
    ``expected``, opening in a new tab.

    The page is screenshot to ``out_dir/extra-link.png`` unless one of ``secrets`` is readable on it.
    Bounded by :data:`BROWSER_BUDGET`; a failed check or an error is a problem of the result.

    :param base_url: the Airflow api-server (UI) URL.
    :param username: a SimpleAuthManager user.
    :param password: its password.
    :param dag_id: the DAG of the finished run.
    :param run_id: the run.
    :param task_id: the task whose link is checked.
    :param name: the link's name (``Vendor console``).
    :param expected: the URL it must point at.
    :param out_dir: where the screenshot goes (created).
    :param secrets: values that must not be readable on the page.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    base_url = base_url.rstrip("/")
    result = LinkResult(dag_id=dag_id, run_id=run_id, task_id=task_id, name=name, expected=expected)
    redact = _Redactor([password, *secrets])
    started = time.monotonic()
    budget = _Budget(BROWSER_BUDGET)
    browser = _Browser()
    try:
        driver, _ = browser.open(budget)
        page = _Page(driver, budget, base_url)
        page.login(username, password)
        driver.get(
            f"{base_url}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}/tasks/{quote(task_id, safe='')}"
        )
        # the task's extra links are on its Details tab, under "Extra Links": reached as a user would
        page.until("the task's Details tab", lambda d: page.shown_text("a|button", "Details"))[0].click()
        page.until("the Details tab to open", lambda d: d.current_url.split("?")[0].rstrip("/").endswith("/details"))
        page.until("the Extra Links section", lambda d: page.shown_text("h1|h2|h3|h4|h5|h6|p|div", "Extra Links"))
        links = page.until(f"the {name!r} link on the Details tab", lambda d: page.shown_text("a", name))
        result.href = links[0].get_dom_attribute("href")
        result.target = links[0].get_dom_attribute("target")
        if result.href != expected:
            result.problems.append(
                f"the {name!r} link points at {redact(str(result.href))!r}, not {redact(expected)!r}"
            )
        if result.target != "_blank":
            result.problems.append(f"the {name!r} link opens in {result.target!r}, not a new tab (_blank)")
        texts = driver.execute_script(_PAGE_TEXTS)
        if any(redact.found_in(str(t or "")) for t in texts or ()):
            result.problems.append("a secret is readable on the task page: no screenshot")
        else:
            result.screenshot = out_dir / "extra-link.png"
            driver.save_screenshot(str(result.screenshot))
    except Exception as err:  # recorded: the summary must show it
        result.problems.append(f"stopped: {type(err).__name__}: {redact(_first_line(str(err)))}")
    finally:
        browser.close()
        result.seconds = time.monotonic() - started
    return result


# -- REST and CLI -------------------------------------------------------------------------------------
class _Rest:
    """The few REST calls: a SimpleAuthManager token, then ``/api/v2/connections/<id>``."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url
        self.token = ""
        body = json.dumps({"username": username, "password": password}).encode()
        status, data = self.call("POST", "/auth/token", body)
        if status not in (200, 201):
            raise PermissionError(f"POST /auth/token: HTTP {status} (wrong username or password?)")
        self.token = str(json.loads(data)["access_token"])

    def call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        request = urllib.request.Request(self.base_url + path, data=body, method=method)
        request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=15) as answer:
                return answer.status, answer.read()
        except urllib.error.HTTPError as err:
            if err.code in (401, 403, 404, 409):
                return err.code, err.read()
            raise RuntimeError(f"{method} {path}: HTTP {err.code}") from None

    def connection(self, conn_id: str) -> dict[str, Any] | None:
        status, data = self.call("GET", f"/api/v2/connections/{quote(conn_id, safe='')}")
        if status not in (200, 404):
            raise RuntimeError(f"GET connection {conn_id}: HTTP {status}")
        return json.loads(data) if status == 200 else None

    def delete_connection(self, conn_id: str) -> None:
        status, _ = self.call("DELETE", f"/api/v2/connections/{quote(conn_id, safe='')}")
        if status not in (200, 204, 404):
            raise RuntimeError(f"DELETE connection {conn_id}: HTTP {status}")


def _connection_exists(rest: _Rest, conn_id: str) -> bool:
    with contextlib.suppress(Exception):
        return rest.connection(conn_id) is not None
    return False


def _check_stored(
    rest: _Rest, conn_id: str, spec: FormSpec, standard: dict[str, str], extras: dict[str, str], result: FormResult
) -> None:
    """The saved connection holds what was typed (secrets: only that they are set; the API masks them)."""
    stored = rest.connection(conn_id)
    if stored is None:
        result.saved = False
        result.problems.append(f"{conn_id} is not in the REST API after Save")
        return
    problems = []
    if stored.get("conn_type") != spec.conn_type:
        problems.append(f"stored conn_type is {stored.get('conn_type')!r}, not {spec.conn_type!r}")
    extra_raw = stored.get("extra") or "{}"
    try:
        stored_extra = json.loads(extra_raw) if isinstance(extra_raw, str) else dict(extra_raw)
    except ValueError:
        stored_extra = {}
        problems.append("stored extra is not JSON")
    for name, text in {**standard, **extras}.items():
        value = stored.get(name) if name in standard else stored_extra.get(name)
        if name in spec.secrets or name == "password":
            if not value:
                problems.append(f"stored {name} is empty")
        elif str(value if value is not None else "") != text:
            problems.append(f"stored {name} is {value!r}, not {text!r}")
    if problems:
        result.saved = False
        result.problems += problems


class _CliTest:
    """``airflow connections test <conn_id>`` in the background; :meth:`finish` waits (bounded)."""

    def __init__(self, airflow_bin: str, conn_id: str, env: dict[str, str], timeout: float) -> None:
        self.conn_id = conn_id
        self.timeout = timeout
        self.started = time.monotonic()
        self.ended = self.started
        self.output: IO[bytes] = tempfile.TemporaryFile()
        self.process = subprocess.Popen(
            [airflow_bin, "connections", "test", conn_id],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self.output,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    def kill(self) -> None:
        """SIGKILL the CLI's process group (the one this Popen started) if it still runs."""
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def finish(self, result: FormResult, redact: _Redactor) -> None:
        """Exit 0 and the success text, or a problem with the last lines (redacted)."""
        try:
            try:
                code = self.process.wait(timeout=max(1.0, self.started + self.timeout - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.kill()
                self.process.wait(timeout=10)
                self.ended = time.monotonic()
                result.test_ok = False
                result.problems.append(f"airflow connections test {self.conn_id}: no answer in {self.timeout:.0f} s")
                return
            self.ended = time.monotonic()
            self.output.seek(0)
            text = self.output.read().decode(errors="replace")
        finally:
            self.output.close()
        lines = [line.strip() for line in text.splitlines() if line.strip()]
        result.test_output = redact(" / ".join(lines[-2:]))
        result.test_ok = code == 0 and SUCCESS_TEXT in text
        if not result.test_ok:
            result.problems.append(
                f"airflow connections test {self.conn_id}: exit {code}: {redact(' / '.join(lines[-3:]))}"
            )


# -- command line -------------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    """``python -m e2e.forms``: check the forms on an api-server already running; 0 only if all pass.

    :param argv: the arguments (default ``sys.argv[1:]``).
    """
    parser = argparse.ArgumentParser(prog="python -m e2e.forms", description=__doc__.splitlines()[0])
    parser.add_argument("--base-url", required=True, help="the Airflow UI, e.g. http://127.0.0.1:8080")
    parser.add_argument("--username", default="admin")
    secret = parser.add_mutually_exclusive_group(required=True)
    secret.add_argument("--password", help="the user's password (visible in ps: prefer --password-file)")
    secret.add_argument(
        "--password-file", type=Path, help="simple_auth_manager_passwords.json.generated, or a file with the password"
    )
    values = parser.add_mutually_exclusive_group(required=True)
    values.add_argument(
        "--connections", type=Path, help='JSON: {"velip": {"host": ..., "password": ...}, "kaleyra": {...}}'
    )
    values.add_argument("--simulator-ready", type=Path, help="the simulator's --ready-file: its URLs, default keys")
    parser.add_argument("--out-dir", type=Path, default=Path("forms-screenshots"), help="for the PNG screenshots")
    parser.add_argument("--airflow-bin", default=str(Path(sys.executable).with_name("airflow")))
    parser.add_argument("--only", nargs="+", choices=VENDORS, help="check only these vendors")
    parser.add_argument("--verbose", action="store_true", help="print each step's time (this module's log only)")
    args = parser.parse_args(argv)
    if args.verbose:  # this logger only: selenium's and urllib3's debug logs carry the typed keys
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)

    password = args.password
    if args.password_file is not None:
        text = args.password_file.read_text().strip()
        try:
            users = json.loads(text)
        except ValueError:
            users = text
        password = str(users[args.username]) if isinstance(users, dict) else str(users)
    if args.connections is not None:
        conns = json.loads(args.connections.read_text())
    else:
        conns = simulator_connections(json.loads(args.simulator_ready.read_text())["base_urls"])
    if args.only:
        conns = {k: v for k, v in conns.items() if k in args.only}
    started = time.monotonic()
    results = check_connection_forms(
        base_url=args.base_url,
        username=args.username,
        password=password,
        out_dir=args.out_dir,
        airflow_env=dict(os.environ),
        airflow_bin=args.airflow_bin,
        connections=conns,
    )
    print(format_table(results))
    print(f"\n{sum(r.ok for r in results)}/{len(results)} forms ok in {time.monotonic() - started:.1f} s")
    for r in results:
        for path in r.screenshots:
            print(f"  {r.vendor}: {path}")
    return 0 if results and all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
