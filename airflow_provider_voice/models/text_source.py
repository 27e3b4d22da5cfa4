"""Opening a user-given text file (recipients, suppression lists) so that nothing fails untyped.

A :class:`TextSource` is a local path, a ``file://`` URL, an object-storage URL (opened through
Airflow's ``ObjectStoragePath``) or any object with ``.open("rb")``, told apart by the one rule of
:mod:`airflow_provider_voice.storage`. It is read in chunks and
decoded incrementally (constant memory), and every problem is a
:class:`~airflow_provider_voice.errors.ValidationError` whose ``field`` is the argument name
(``"recipients"``, ``"suppression"``), ``value`` the path and ``rule`` what is wrong:

* a missing file (:class:`MissingSourceError`, so callers can opt in to "may not exist yet"),
  a directory, a file that cannot be read;
* bytes that are not text in the ``encoding`` (default ``utf-8-sig``: UTF-8 with or without a
  byte-order mark): the line, the byte offset and the byte are named, and ``encoding=`` suggested;
* a line longer than :data:`MAX_LINE_CHARS` (a binary file, or a file without line ends).

Lines end at ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as Python's ``newline=""`` reading does) and are
yielded with their line end, ready for :mod:`csv`.
"""

from __future__ import annotations

import codecs
import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from airflow_provider_voice.errors import ValidationError
from airflow_provider_voice.storage import READ, resolve_location

__all__ = ["MAX_LINE_CHARS", "MissingSourceError", "TextSource"]

#: bytes read per chunk
CHUNK_BYTES = 64 * 1024
#: longest line accepted (characters); a longer one is a binary file or a file without line ends
MAX_LINE_CHARS = 4 * 1024 * 1024
_NEWLINE = re.compile(r"\r\n|\r|\n")
_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


class MissingSourceError(ValidationError):
    """The file or object named as a source does not exist."""


class TextSource:
    """A text file given by the DAG author, read line by line with typed errors (see the module docstring).

    :param source: a ``str``/``Path`` path, a ``file://`` or ``scheme://`` URL, an
        ``ObjectStoragePath`` or any object with ``.open("rb")``.
    :param field: the argument the file was given as (names the errors): ``"recipients"``, ``"suppression"``.
    :param encoding: the file's text encoding (default ``utf-8-sig``: UTF-8, a byte-order mark is dropped).
    """

    def __init__(self, source: Any, *, field: str = "recipients", encoding: str = "utf-8-sig") -> None:
        self.field = field
        try:
            self.encoding = codecs.lookup(encoding or "").name
        except LookupError:
            raise ValidationError(
                "encoding",
                encoding,
                "an encoding Python knows ('utf-8', 'utf-8-sig', 'latin-1', 'cp1252', 'utf-16'...)",
            ) from None
        self.target = _resolve(source, field)
        self.name = _display_name(self.target)
        #: bytes read by the last :meth:`lines` / :meth:`read_text`
        self.bytes_read = 0

    def error(self, rule: str) -> ValidationError:
        """A :class:`ValidationError` about this file (``field``, the path, ``rule``)."""
        return ValidationError(self.field, self.name, rule)

    # -- opening ----------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise when a local file is missing (:class:`MissingSourceError`) or a directory (remote: on opening)."""
        target = self.target
        if isinstance(target, Path):
            if not target.exists():
                raise MissingSourceError(self.field, self.name, "file does not exist")
            if target.is_dir():
                raise self.error("is a directory, not a file")

    def _open_binary(self) -> IO[bytes]:
        target = self.target
        if isinstance(target, Path):
            self.check()
        else:
            is_dir = getattr(target, "is_dir", None)
            directory = False
            if callable(is_dir):
                with contextlib.suppress(Exception):  # a store that cannot tell: opening will say
                    directory = bool(is_dir())
            if directory:
                raise self.error("is a directory (a prefix), not a file")
        try:
            handle: IO[bytes] = target.open("rb")
            return handle
        except FileNotFoundError:
            raise MissingSourceError(self.field, self.name, "file does not exist") from None
        except IsADirectoryError:
            raise self.error("is a directory, not a file") from None
        except NotADirectoryError:
            raise MissingSourceError(
                self.field, self.name, "file does not exist (a parent is not a directory)"
            ) from None
        except PermissionError:
            raise self.error("cannot be read: permission denied") from None

    @contextlib.contextmanager
    def lines(self) -> Iterator[Iterator[str]]:
        """``with source.lines() as lines:`` -> the decoded lines, each with its line end."""
        handle = self._open_binary()
        try:
            yield self._decode(handle, MAX_LINE_CHARS)
        finally:
            handle.close()

    def read_text(self) -> str:
        """The whole file as text (for formats that cannot be streamed, such as a JSON document)."""
        handle = self._open_binary()
        try:
            return "".join(self._decode(handle, None))
        finally:
            handle.close()

    # -- decoding ---------------------------------------------------------------------------------
    def _decode(self, handle: IO[bytes], max_line: int | None) -> Iterator[str]:
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        self.bytes_read = 0
        yielded = 0  # complete lines yielded so far
        pending = ""
        first = True
        while True:
            chunk = handle.read(CHUNK_BYTES)
            final = not chunk
            base = self.bytes_read - len(decoder.getstate()[0])
            try:
                text = decoder.decode(chunk, final)
            except UnicodeDecodeError as exc:
                if first and self.encoding == "utf-8-sig" and chunk.startswith(codecs.BOM_UTF8):
                    base += len(codecs.BOM_UTF8)
                raise self._decode_error(exc, base, yielded, pending, chunk if first else b"") from None
            self.bytes_read += len(chunk)
            if first and text:
                text = text.removeprefix("\ufeff")  # a BOM left by encoding="utf-8"
                first = False
            pending += text
            start = 0
            for match in _NEWLINE.finditer(pending):
                if match.group() == "\r" and match.end() == len(pending) and not final:
                    break  # maybe the first half of "\r\n"
                yield pending[start : match.end()]
                yielded += 1
                start = match.end()
            pending = pending[start:]
            if max_line is not None and len(pending) > max_line:
                raise self.error(
                    f"line {yielded + 1} is longer than {max_line:,} characters: not a text file of rows "
                    "(a binary file, or a file without line ends?)"
                )
            if final:
                if pending:
                    yield pending
                return

    def _decode_error(
        self, exc: UnicodeDecodeError, base: int, yielded: int, pending: str, head: bytes
    ) -> ValidationError:
        data = exc.object if isinstance(exc.object, bytes) else bytes(exc.object)
        prefix = data[: exc.start].decode(self.encoding, errors="replace")
        line = yielded + 1 + len(_NEWLINE.findall(pending + prefix))
        bad = data[exc.start : exc.end][:4]
        shown = " ".join(f"0x{b:02x}" for b in bad)
        label = "UTF-8" if self.encoding in ("utf-8", "utf-8-sig") else self.encoding
        hint = next((name for bom, name in _BOMS if head.startswith(bom)), None)
        if hint:
            suggestion = f"the file starts with a {hint.upper()} byte-order mark: pass encoding={hint!r}"
        else:
            suggestion = "pass encoding= with the file's encoding, e.g. encoding='latin-1' or encoding='cp1252'"
        return self.error(
            f"line {line}: not {label} text (byte {shown} at byte offset {base + exc.start}: {exc.reason}); {suggestion}"
        )


def _resolve(source: Any, field: str) -> Any:
    """A local :class:`Path` or an object with ``open()`` for ``source`` (the rule of :mod:`~airflow_provider_voice.storage`)."""
    return resolve_location(source, field=field, needs=READ)


def _display_name(target: Any) -> str:
    if isinstance(target, Path) or hasattr(target, "fs"):  # a local path, an ObjectStoragePath (its URL)
        return str(target)
    return str(getattr(target, "path", None) or target)
