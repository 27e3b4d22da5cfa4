"""Where files live: one rule for paths and URLs, and atomic writes to either.

**What counts as object storage** (the one rule, :func:`is_object_storage`, used by every reader
and writer of the provider: recipients, suppression lists, CDR files, exports, checkpoints):

* a string (surrounding white space ignored) that starts with a URL scheme of two or more
  characters followed by ``://`` (``s3://``, ``gs://``, ``gcs://``, ``abfs://``, ``memory://``,
  ``https://``...), **except** ``file``: it is opened as an Airflow ``ObjectStoragePath`` (with
  the storage connection when one is given). Only the start of the string counts: a ``://``
  further in (``/data/x?from=https://...``) leaves it a local path, and a one-letter "scheme" is a
  Windows drive (``C://data``), not a URL;
* an object that already is one: anything with fsspec's ``fs`` or ``protocol`` attribute
  (``ObjectStoragePath``, ``UPath``), used as it is, whatever its protocol.

Everything else is **local**: a ``str``/``os.PathLike`` path, and a ``file:`` URL, whose scheme is
matched in any case (``file:///abs/path``, ``file://localhost/abs/path``, ``file:/abs/path``) and
whose path is percent-decoded (the inverse of :meth:`pathlib.Path.as_uri`, so the URL
:func:`describe_destination` gives back names the same file). A ``file://`` URL naming another
host (``file://server/share/x``, or ``file://data/x.csv`` meant as a relative path) is a
:class:`~airflow_provider_voice.errors.ValidationError`: it would otherwise land in an unexpected
folder. An empty string is a ``ValidationError`` too (a template that rendered to nothing).
:func:`resolve_location` applies the rule; an object that is neither a path nor a URL is accepted
when it has the methods the caller needs (``open`` to read; ``open``/``rename``/``parent``/``name``
to write atomically).

:func:`open_atomic` writes to a temporary sibling (``.<name>.<random>.part``) and only moves it to
the destination when the ``with`` block ends without error: a reader never sees a half-written
file at the destination, and a failed or interrupted write leaves the destination as it was
(absent, or the previous complete file) and removes the temporary file.

* local paths: ``fsync`` then ``os.replace`` (atomic on POSIX file systems); a big file has its
  writeback started every 8 MiB while it is written (``posix_fadvise``), so the final ``fsync``
  has little left to wait for and the page cache does not fill with it;
* object storage: written to the temporary key, then ``rename`` (a server-side copy + delete on
  object stores, whose objects only appear once complete).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.request import url2pathname

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.redaction import get_logger

__all__ = [
    "READ",
    "WRITE",
    "AtomicFile",
    "describe_destination",
    "forget_listings",
    "fsync_dir",
    "is_object_storage",
    "local_path",
    "location_uri",
    "object_storage_path",
    "open_atomic",
    "resolve_destination",
    "resolve_location",
]

log = get_logger(__name__)

#: what a duck-typed path object needs to be read from
READ: tuple[str, ...] = ("open",)
#: what a duck-typed path object needs to be written to atomically (:func:`open_atomic`)
WRITE: tuple[str, ...] = ("open", "rename", "parent", "name")

#: ``scheme://`` at the start of a string; two characters at least (``C://`` is a Windows drive)
_SCHEME_RE = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]+)://")
_LOCAL_HOSTS = ("", "localhost")
#: a local atomic write starts the kernel's writeback every this many bytes (:meth:`AtomicFile.write`)
_WRITEBACK_BYTES = 8 << 20


def _is_storage_object(location: Any) -> bool:
    """An fsspec-backed path object (``ObjectStoragePath``, ``UPath``): it has ``fs`` or ``protocol``."""
    return not isinstance(location, (str, bytes)) and (hasattr(location, "fs") or hasattr(location, "protocol"))


def _is_file_url(text: str) -> bool:
    return text[:5].lower() == "file:"


def is_object_storage(location: Any) -> bool:
    """Whether ``location`` names object storage, by the rule of the module docstring.

    :param location: a string, an ``os.PathLike`` or a path object.
    :returns: True for a ``scheme://`` string whose scheme is not ``file`` and for an
        ``ObjectStoragePath``-like object; False for local paths and ``file:`` URLs.
    """
    if isinstance(location, str):
        text = location.strip()
        return _SCHEME_RE.match(text) is not None and not _is_file_url(text)
    return _is_storage_object(location)


def _empty(field: str, value: Any) -> ValidationError:
    return ValidationError(
        field, value, "an empty path (a template that rendered to nothing?): give a file path or an object-storage URL"
    )


def _file_url_path(text: str, field: str) -> Path:
    """The local path of a ``file:`` URL (see the module docstring)."""
    rest = text[5:]
    if rest.startswith("//"):
        authority, _, path = rest[2:].partition("/")
        if authority.lower() not in _LOCAL_HOSTS:
            raise ValidationError(
                field,
                text,
                f"a file:// URL names a file on this machine (host {authority!r} is not): "
                "write file:///absolute/path (three slashes) or a plain path",
            )
        rest = "/" + path
    if not rest.strip("/"):
        raise _empty(field, text)
    return Path(url2pathname(rest))


def local_path(location: str | os.PathLike[str], *, field: str = "destination") -> Path:
    """The local :class:`~pathlib.Path` of a path or a ``file:`` URL (not object storage).

    :param location: a ``str`` path, a ``file:`` URL or an ``os.PathLike``.
    :param field: the argument name used in errors.
    :raises ValidationError: an empty string, or a ``file://`` URL naming another host.
    """
    if not isinstance(location, str):
        return Path(os.fsdecode(location))
    text = location.strip()
    if not text:
        raise _empty(field, location)
    return _file_url_path(text, field) if _is_file_url(text) else Path(text)


def object_storage_path(url: str, *, conn_id: str | None = None) -> Any:
    """An Airflow ``ObjectStoragePath`` for ``url`` (Airflow is imported only here, only when needed).

    :param url: the ``scheme://...`` URL.
    :param conn_id: the Airflow connection of the storage (S3, GCS...), if any.
    """
    from airflow.sdk import ObjectStoragePath

    return ObjectStoragePath(url, conn_id=conn_id) if conn_id else ObjectStoragePath(url)


def resolve_location(
    location: Any, *, field: str = "destination", conn_id: str | None = None, needs: Sequence[str] = READ
) -> Path | Any:
    """A local :class:`~pathlib.Path` or an object-storage path for ``location`` (the module's rule).

    :param location: a ``str`` path or URL, an ``os.PathLike``, an ``ObjectStoragePath`` or a
        duck-typed path object.
    :param field: the argument name used in errors (``"recipients"``, ``"checkpoint_path"``...).
    :param conn_id: the Airflow connection used to open an object-storage URL string, if any.
    :param needs: the methods an object that is neither a path nor a URL must have (:data:`READ`,
        :data:`WRITE`; empty: any object).
    :returns: a ``Path`` for local locations; an ``ObjectStoragePath`` for object-storage URLs;
        a path object as it is.
    :raises ValidationError: an empty string, a ``file://`` URL of another host, or an object
        that lacks ``needs``.
    """
    if isinstance(location, str):
        text = location.strip()
        if not text:
            raise _empty(field, location)
        if is_object_storage(text):
            return _with_filesystem(object_storage_path(text, conn_id=conn_id), field, text)
        return local_path(text, field=field)
    if _is_storage_object(location):
        return location
    if isinstance(location, os.PathLike):
        return local_path(location, field=field)
    if location is not None and all(hasattr(location, name) for name in needs):
        return location
    wanted = f" or an object with {'/'.join(needs)}" if needs else ""
    raise ValidationError(field, location, f"a local path, a 'scheme://' URL, an ObjectStoragePath{wanted}")


def _with_filesystem(path: Any, field: str, url: str) -> Any:
    """``path`` once its filesystem loads: a missing driver (``s3fs``, ``gcsfs``...) is bad configuration.

    Without this the ``ImportError`` would surface at the first read or write, after the task started
    its work, and be retried by Airflow although no retry can install a package.
    """
    try:
        path.fs  # noqa: B018 - resolves the scheme's filesystem class (and imports its package)
    except ImportError as err:
        scheme = url.split("://", 1)[0]
        raise ValidationError(
            field, url, f"a URL whose filesystem is installed: {scheme}:// needs a package this worker lacks ({err})"
        ) from None
    except Exception:  # other schemes resolve their filesystem when first used, as before
        pass
    return path


def location_uri(location: Any) -> str:
    """``location`` as a URI without opening anything: an object-storage URL or path object as it
    is, a local path (or ``file:`` URL) as an absolute ``file:///...`` URI (percent-encoded).

    :param location: a ``str`` path or URL, an ``os.PathLike`` or a path object.
    """
    if is_object_storage(location):
        return str(location).strip()
    if isinstance(location, (str, os.PathLike)):
        return local_path(location).absolute().as_uri()
    return str(location)


def resolve_destination(destination: Any, *, conn_id: str | None = None) -> Path | Any:
    """Where to write: :func:`resolve_location` for a writer (``field="destination"``, :data:`WRITE`).

    :param destination: local path, ``file://``/``s3://``/... URL, or ``ObjectStoragePath``.
    :param conn_id: the Airflow connection used to open an object-storage URL string, if any.
    """
    return resolve_location(destination, field="destination", conn_id=conn_id, needs=WRITE)


def describe_destination(path: Any) -> str:
    """The destination as a URL-like string (``file:///...`` for local files).

    :param path: a resolved destination (a ``Path`` or an object-storage path).
    """
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
    #: the local file's descriptor, for the early writeback (None: object storage, or no ``posix_fadvise``)
    writeback_fd: int | None = None
    _written_back: int = 0  # offset up to which writeback was started

    def write(self, data: bytes) -> int:
        """Write ``data`` to the temporary file."""
        self.handle.write(data)
        size = len(data)
        self.bytes_written += size
        if self.writeback_fd is not None and self.bytes_written - self._written_back >= _WRITEBACK_BYTES:
            self._start_writeback()
        return size

    def _start_writeback(self) -> None:
        """Have the kernel start writing what was written so far, and forget the pages written
        before (local files; Linux ``posix_fadvise(DONTNEED)`` starts the writeback and returns).

        A big download thus never piles up dirty pages (the kernel throttles a writer that does,
        and the final ``fsync`` would wait for all of them) nor fills the page cache.
        """
        fd = self.writeback_fd
        if fd is None:
            return
        self.handle.flush()
        start = max(0, self._written_back - _WRITEBACK_BYTES)  # the previous range: its writeback is done or under way
        try:
            os.posix_fadvise(fd, start, self.bytes_written - start, os.POSIX_FADV_DONTNEED)
        except OSError:  # a file system without it: nothing lost but the early start
            self.writeback_fd = None
        self._written_back = self.bytes_written

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
        writeback_fd = handle.fileno() if hasattr(os, "posix_fadvise") else None
    else:
        if make_parents:
            with contextlib.suppress(Exception):  # buckets/prefixes need no directories
                path.parent.mkdir(parents=True, exist_ok=True)
        temp = path.parent / temp_name
        handle = temp.open("wb")
        writeback_fd = None
    target = AtomicFile(path=path, temp_path=temp, handle=handle, writeback_fd=writeback_fd)
    try:
        yield target
        if isinstance(path, Path):
            handle.flush()
            os.fsync(handle.fileno())
            handle.close()
            os.replace(temp, path)
            fsync_dir(path.parent)
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


def fsync_dir(directory: Path) -> None:
    """fsync a directory (so a rename or link in it survives a crash); errors are ignored."""
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


def forget_listings(folder: Any) -> None:
    """Make the next listing of ``folder`` ask the store itself.

    Object-store filesystems (s3fs, gcsfs, adlfs) cache directory listings for the life of the
    process. Without this, a try that listed its claims once would never see the newer claim of a
    try Airflow started elsewhere (fencing defeated: both send), nor a newer try the frames an older
    one recorded after the first listing.

    :param folder: an ``ObjectStoragePath`` (or any path object; one without a filesystem is left alone).
    """
    fs = getattr(folder, "fs", None)
    invalidate = getattr(fs, "invalidate_cache", None)
    if callable(invalidate):
        invalidate(getattr(folder, "path", None) or str(folder))
