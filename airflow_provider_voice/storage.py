"""Atomic writes to a local path or an Airflow ``ObjectStoragePath``.

:func:`open_atomic` writes to a temporary sibling (``.<name>.<random>.part``) and only moves it to
the destination when the ``with`` block ends without error: a reader never sees a half-written
file at the destination, and a failed or interrupted write leaves the destination as it was
(absent, or the previous complete file) and removes the temporary file.

* local paths (``str``, ``pathlib.Path``, ``file://...`` strings): ``fsync`` then ``os.replace``
  (atomic on POSIX file systems);
* ``ObjectStoragePath`` (or a ``s3://``, ``gs://``... string, opened through Airflow's object
  storage): written to the temporary key, then ``rename`` (a server-side copy + delete on
  object stores, whose objects only appear once complete).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.redaction import get_logger

__all__ = ["AtomicFile", "describe_destination", "open_atomic", "resolve_destination"]

log = get_logger(__name__)


def resolve_destination(destination: Any) -> Path | Any:
    """A local :class:`~pathlib.Path` or an object-storage path for ``destination``.

    ``str``/``Path`` without a scheme and ``file://`` strings become local paths; other
    ``scheme://`` strings become ``airflow.sdk.ObjectStoragePath``; objects that already behave
    like paths (``open``/``rename``/``parent``) are returned as they are.
    """
    if isinstance(destination, os.PathLike) and not hasattr(destination, "fs"):
        return Path(destination)
    if isinstance(destination, str):
        text = destination.strip()
        if not text:
            raise ValidationError("destination", destination, "a file path or an object-storage URL")
        if text.startswith("file://"):
            return Path(text.removeprefix("file://"))
        if "://" in text:
            from airflow.sdk import ObjectStoragePath  # only when an object-storage URL is given

            return ObjectStoragePath(text)
        return Path(text)
    if all(hasattr(destination, name) for name in ("open", "rename", "parent", "name")):
        return destination
    raise ValidationError("destination", destination, "a local path, a 'scheme://' URL or an ObjectStoragePath")


def describe_destination(path: Any) -> str:
    """The destination as a URL-like string (``file:///...`` for local files)."""
    if isinstance(path, Path):
        return path.absolute().as_uri()
    return str(path)


@dataclass
class AtomicFile:
    """The handle :func:`open_atomic` yields: ``write(bytes)``, and ``bytes_written``.

    ``path`` is the final destination, ``url`` its string form; ``committed`` becomes True
    once the file is at the destination.
    """

    path: Any
    temp_path: Any
    handle: IO[bytes]
    bytes_written: int = 0
    committed: bool = False

    def write(self, data: bytes) -> int:
        """Write ``data`` to the temporary file."""
        self.handle.write(data)
        self.bytes_written += len(data)
        return len(data)

    @property
    def url(self) -> str:
        return describe_destination(self.path)


@contextlib.contextmanager
def open_atomic(destination: Any, *, make_parents: bool = True) -> Iterator[AtomicFile]:
    """Open ``destination`` for an atomic binary write (see the module docstring).

    :param destination: local path, ``file://``/``s3://``/... URL, or ``ObjectStoragePath``.
    :param make_parents: create missing parent directories (local and object storage).
    :yields: an :class:`AtomicFile`; the file is moved into place when the block ends cleanly.
    """
    path = resolve_destination(destination)
    token = secrets.token_hex(4)
    temp_name = f".{path.name}.{token}.part"
    if isinstance(path, Path):
        if make_parents:
            path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.with_name(temp_name)
        handle: IO[bytes] = open(temp, "xb")
    else:
        if make_parents:
            with contextlib.suppress(Exception):  # buckets/prefixes need no directories
                path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / temp_name
        handle = temp.open("wb")
    target = AtomicFile(path=path, temp_path=temp, handle=handle)
    try:
        yield target
        if isinstance(path, Path):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, path)
            _fsync_dir(path.parent)
        else:
            handle.close()
            temp.rename(path)
        target.committed = True
    except BaseException:
        with contextlib.suppress(Exception):
            handle.close()
        _remove_quietly(temp)
        raise
    log.debug("wrote %d bytes to %s", target.bytes_written, target.url)


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _remove_quietly(temp: Any) -> None:
    try:
        temp.unlink()
    except FileNotFoundError:
        pass
    except Exception as exc:  # pragma: no cover - remote storage hiccup: say so, keep the first error
        log.warning("could not remove the temporary file %s: %s", temp, exc)


def configured_location(option: str, leaf: str) -> str:
    """``[voice] <option>`` from the Airflow configuration, else ``$AIRFLOW_HOME/voice/<leaf>``.

    :param option: the option of the ``[voice]`` section (``checkpoint_path``, ``rejects_path``).
    :param leaf: the folder under ``$AIRFLOW_HOME/voice`` used when the option is empty.
    """
    try:
        from airflow.configuration import conf

        configured = conf.get("voice", option, fallback=None)
        if configured:
            return str(configured)
        home = conf.get("core", "airflow_home", fallback=None) or os.environ.get("AIRFLOW_HOME")
    except Exception:  # plain Python use without an Airflow configuration
        home = os.environ.get("AIRFLOW_HOME")
    return str(Path(home or Path.home() / "airflow") / "voice" / leaf)
