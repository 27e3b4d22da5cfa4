"""The one task base of the provider's operators and sensors.

What every task shares, written once here:

* **the hook**: :attr:`VoiceTask.hook`, resolved at execute time (never in ``__init__``, which runs
  at DAG parse) from ``conn_id`` and :meth:`VoiceTask.hook_params` through
  :func:`~airflow_provider_voice.hooks.base.get_voice_hook`: the connection type picks the hook, a
  connection of a type the task does not accept (:attr:`VoiceTask.vendors`) is a
  :class:`~airflow_provider_voice.errors.ValidationError` before any request;
* **the deferrable default**: :func:`deferrable_arg` reads ``[operators] default_deferrable`` when
  the task is built (never at import, when a ``def`` default would freeze it);
* **bad input fails at once**: :func:`input_errors` turns a ``ValidationError`` into a
  :class:`VoiceInputError`, and :class:`FailFastMixin` (below) keeps Airflow from retrying
  every error a retry cannot fix.

Bad input and refused credentials fail at once.

Airflow retries a failed task unless the error is an ``AirflowFailException``. Retrying bad input
only repeats the failure (and a wrong key, retried, gets an IP banned at Velip), so every
operator and sensor of the provider mixes in :class:`FailFastMixin`: an error that a retry cannot
fix leaves ``execute`` / ``execute_complete`` / ``poke`` as the same typed error *and* an
``AirflowFailException``, so ``except ValidationError`` keeps working and Airflow does not retry.

Permanent (never retried):

* :class:`~airflow_provider_voice.errors.ValidationError` — bad input, found before any request;
* :class:`~airflow_provider_voice.errors.AuthError` — the vendor refused the credentials;
* :class:`~airflow_provider_voice.errors.CapabilityNotSupportedError` — wrong vendor for the job;
* :class:`~airflow_provider_voice.delivery.DeliveryRejectedError` — the vendor refused the
  recipients (a retry would send the same request again; fix it and clear the task: the
  checkpoint sends only what was not accepted);
* a :class:`~airflow_provider_voice.delivery.DeliveryIncompleteError` stopped by one of the above,
  or stopped by refusals before the vendor accepted anything (``abort_after_rejections``);
* a template that does not render (``{{ ds }}`` in a run without a logical date, an undefined
  variable): it fails the same way on every try.

Everything else (timeouts, 5xx, recipients in doubt) keeps Airflow's retries: a retry reconciles
and resends only what is safe to resend.
"""

from __future__ import annotations

import ast
import contextlib
import functools
import json
from collections.abc import Callable, Iterator, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

import jinja2
from airflow.sdk import BaseOperator, conf
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_voice.delivery import DeliveryIncompleteError, DeliveryRejectedError
from airflow_provider_voice.delivery.engine import max_rejected_share_arg
from airflow_provider_voice.errors import AuthError, CapabilityNotSupportedError, ValidationError, VendorRejectedError

# what only execute needs is imported inside the methods: DAG files import this module (benchmarks/bench_parse.py)
if TYPE_CHECKING:
    from airflow_provider_voice.hooks.base import VoiceHook

__all__ = [
    "PERMANENT_ERRORS",
    "CampaignInputError",
    "FailFastMixin",
    "TemplateRenderError",
    "VoiceInputError",
    "VoiceOperator",
    "VoiceTask",
    "deferrable_arg",
    "fail_fast",
    "input_errors",
    "is_permanent",
    "max_rejected_share_arg",
    "rendered_mapping",
    "rendered_options",
    "try_number",
]

F = TypeVar("F", bound=Callable[..., Any])

#: error classes a task retry cannot fix
PERMANENT_ERRORS: tuple[type[BaseException], ...] = (
    ValidationError,
    AuthError,
    CapabilityNotSupportedError,
    DeliveryRejectedError,
)
_WRAPPED = "__voice_fail_fast__"


class TemplateRenderError(AirflowFailException):
    """A templated argument did not render (the same on every try: not retried)."""


def is_permanent(exc: BaseException) -> bool:
    """Whether a retry of the task cannot fix ``exc`` (see the module docstring)."""
    if isinstance(exc, PERMANENT_ERRORS):
        return True
    if isinstance(exc, DeliveryIncompleteError):
        cause = exc.cause or exc.__cause__
        if cause is not None and isinstance(cause, PERMANENT_ERRORS):
            return True
        # stopped because every answer so far was a refusal (e.g. a sender the vendor does not accept)
        report = exc.report
        return isinstance(cause, VendorRejectedError) and report.accepted == 0 and not report.in_doubt
    return False


_FAIL_FAST_CLASSES: dict[type[BaseException], type[BaseException]] = {}


def _fail_fast_class(cls: type[BaseException]) -> type[BaseException]:
    """``cls`` and ``AirflowFailException`` in one class (made once per class)."""
    twin = _FAIL_FAST_CLASSES.get(cls)
    if twin is None:
        made = type(cls.__name__, (cls, AirflowFailException), {"__module__": cls.__module__, "__doc__": cls.__doc__})
        twin = _FAIL_FAST_CLASSES.setdefault(cls, made)
    return twin


def fail_fast(exc: BaseException) -> BaseException:
    """``exc`` as an instance of its own class *and* ``AirflowFailException`` (same attributes, same message)."""
    if isinstance(exc, AirflowFailException):
        return exc
    twin_class = _fail_fast_class(type(exc))
    twin = twin_class.__new__(twin_class)
    twin.__dict__.update(exc.__dict__)
    twin.args = exc.args
    twin.__traceback__ = exc.__traceback__
    twin.__cause__, twin.__context__ = exc.__cause__, exc.__context__
    twin.__suppress_context__ = exc.__suppress_context__
    return twin


def _guard(method: F) -> F:
    if getattr(method, _WRAPPED, False):
        return method

    @functools.wraps(method)
    def guarded(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except Exception as exc:
            if is_permanent(exc) and not isinstance(exc, AirflowFailException):
                raise fail_fast(exc) from exc.__cause__
            raise

    setattr(guarded, _WRAPPED, True)
    return guarded  # type: ignore[return-value]


class FailFastMixin:
    """Mix into an operator or sensor: permanent errors (see the module docstring) are not retried.

    Wraps ``execute``, every ``execute_*`` resume method and ``poke`` of every subclass that defines them, and
    turns a template that cannot render into :class:`TemplateRenderError`.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for name, method in list(cls.__dict__.items()):
            if (name == "poke" or name.startswith("execute")) and callable(method):
                setattr(cls, name, _guard(method))

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Airflow's rendering; a template error becomes :class:`TemplateRenderError` (not retried)."""
        try:
            super().render_template_fields(context, jinja_env)  # type: ignore[misc]
        except jinja2.TemplateError as exc:
            raise TemplateRenderError(
                f"{type(self).__name__} {getattr(self, 'task_id', '')!r}: a templated argument did not render: "
                f"{exc}. Runs triggered from the API or `airflow dags trigger` have no logical date: use "
                "{{ dag_run.run_after }} or {{ run_id }} instead of {{ ds }} / {{ ts }} / {{ logical_date }}."
            ) from exc


def rendered_mapping(value: Any, *, field: str, rule: str) -> Any:
    """A templated argument that may be an XCom mapping rendered to text: a string starting with ``{``
    is read as JSON, else as a Python literal (``"{{ ti.xcom_pull(...) }}"`` renders a dict's repr);
    text that is neither is a :class:`ValidationError` (``rule`` says what is allowed). Any other
    value is returned as it is."""
    if not isinstance(value, str) or not value.strip().startswith("{"):
        return value
    text = value.strip()
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise ValidationError(field, text[:80], rule) from None


def rendered_options(value: Any, *, field: str = "vendor_options") -> dict[str, Any]:
    """``vendor_options`` after rendering: a mapping, a JSON object string, or nothing.

    Read at execute time (never in ``__init__``, which runs at DAG parse, when a template such as
    ``"{{ params.options | tojson }}"`` is still a string)."""
    if value in (None, ""):
        return {}
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            try:  # "{{ params.options }}" renders a dict as its Python repr
                value = ast.literal_eval(value.strip())
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                raise ValidationError(
                    field, value, "a mapping, or a string that renders to a JSON object ('{{ params.x | tojson }}')"
                ) from None
    if hasattr(value, "model_dump"):
        return dict(value.model_dump(exclude_unset=True))
    if not isinstance(value, Mapping):
        raise ValidationError(field, value, "a mapping of option names to values")
    return dict(value)


def try_number(context: Any) -> int:
    """The running try's number (1 outside Airflow): orders concurrent tries of a delivery (fencing)."""
    ti = context.get("ti") if isinstance(context, Mapping) else None
    value = getattr(ti, "try_number", 1)
    return value if isinstance(value, int) and value >= 1 else 1


# -- the task base ------------------------------------------------------------------------------------
class VoiceInputError(ValidationError, AirflowFailException):
    """A :class:`ValidationError` that also tells Airflow not to retry (bad input stays bad).

    Raised by every delivering operator (campaigns, SMS, the Kaleyra dialer) for input found bad
    before the first request; see :func:`input_errors`. It lives here, not in
    :mod:`airflow_provider_voice.errors`, because it is an ``AirflowFailException`` and the errors
    module is imported by the vendors, which import no Airflow.
    """


#: the former name (campaigns were the first to raise it); the same class, so existing imports and
#: ``except CampaignInputError`` keep working for every operator
CampaignInputError = VoiceInputError


@contextlib.contextmanager
def input_errors() -> Iterator[None]:
    """Around the checks a task makes before its first request: a :class:`ValidationError` raised
    inside leaves as a :class:`VoiceInputError` (same field, value, rule and vendor; not retried).

    .. code-block:: python

        with input_errors():
            spec = self.build_spec()
    """
    try:
        yield
    except VoiceInputError:
        raise
    except ValidationError as exc:
        raise VoiceInputError(exc.field, exc.value, exc.rule, vendor=exc.vendor) from None


def default_deferrable() -> bool:
    """``[operators] default_deferrable`` as configured now (``False`` when unset)."""
    return conf.getboolean("operators", "default_deferrable", fallback=False)


def deferrable_arg(value: Any) -> bool:
    """A task's ``deferrable`` argument, read when the task is built: ``None`` means
    ``[operators] default_deferrable`` (read now, never at import time).

    :param value: ``True``, ``False`` or ``None``.
    :raises ValidationError: any other value (a string ``"false"`` would read as true).
    """
    if value is None:
        return default_deferrable()
    if not isinstance(value, bool):
        raise ValidationError("deferrable", value, "True, False or None (None: [operators] default_deferrable)")
    return value


class VoiceTask(FailFastMixin):
    """Mixed into every operator and sensor of the provider: the hook, and fail-fast errors.

    The hook is built at execute time from the connection (``conn_id``), with the task's
    :meth:`hook_params`, through :func:`~airflow_provider_voice.hooks.base.get_voice_hook` — the one
    way a task gets its hook. A subclass sets :attr:`vendors` when it accepts only some connection
    types, and overrides :meth:`hook_params` (request timeout, retry policy) or
    :meth:`hook_conn_id` (a connection id read from an input, as the campaign sensor does).
    """

    #: connection types the task accepts (empty: any voice connection; the capability says what it needs)
    vendors: ClassVar[tuple[str, ...]] = ()
    #: what needs the connection, for the error naming a wrong connection type (default: the class name)
    hook_purpose: ClassVar[str] = ""
    conn_id: Any

    def hook_conn_id(self) -> str:
        """The connection to use (the rendered ``conn_id``)."""
        return str(self.conn_id)

    def hook_params(self) -> dict[str, Any]:
        """Keyword arguments of the hook (``timeout``, ``retry``); JSON-ready for a trigger. Default: none."""
        return {}

    @cached_property
    def hook(self) -> VoiceHook[Any]:
        """The vendor hook picked by the connection type (built at execute time, never at parse time)."""
        from airflow_provider_voice.hooks.base import get_voice_hook

        return get_voice_hook(
            self.hook_conn_id(),
            vendors=self.vendors,
            purpose=self.hook_purpose or type(self).__name__,
            hook_params=self.hook_params() or None,
        )


class VoiceOperator(VoiceTask, BaseOperator):
    """Base of the provider's operators: :class:`VoiceTask` on Airflow's ``BaseOperator``."""
