"""Reading advisory feeds (the CISA KEV catalogue; the NVD, EPSS, Debian and Ubuntu
feeds, streamed: :func:`open_feed`) from a file or an http(s) URL.

Only fetching lives here; parsing and checking is :mod:`app.core.kev`. A URL is fetched
with urllib, a timeout and a size cap; only ``http`` and ``https`` are accepted, so a
``file:`` or ``ftp:`` URL typed by mistake is refused rather than followed.
"""

from __future__ import annotations

import codecs
import gzip
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO

from app import __version__
from app.core.errors import UserError
from app.core.kev import MAX_BYTES
from app.core.progress import Cancelled

#: Where CISA publishes the catalogue (tech-notes §7); offered as the default source.
KEV_URL = ("https://www.cisa.gov/sites/default/files/feeds/"
           "known_exploited_vulnerabilities.json")
SAMPLE_NAME = "known_exploited_vulnerabilities.json"


def kev_sample_path() -> Path:
    """The bundled 20-entry KEV sample (``resources/data``; ``app/resources`` in a wheel)."""
    here = Path(__file__).resolve()
    source = here.parents[1] / "resources" / "data" / SAMPLE_NAME
    return source if source.is_file() else here.parent / "resources" / "data" / SAMPLE_NAME


def is_url(source: str) -> bool:
    """Whether a source names a URL rather than a file."""
    return "://" in source


def read_source(source: str | Path, timeout: float = 30.0) -> bytes:
    """The bytes of a file, or of an http(s) URL.

    Raises:
        UserError: missing or unreadable file, refused scheme, HTTP error, timeout, a
            response larger than the cap.
    """
    text = str(source)
    if not is_url(text):
        path = Path(text).expanduser()
        try:
            size = path.stat().st_size
            if size > MAX_BYTES:
                raise UserError(f"{path} is {size // 1_048_576} MB; that is not a KEV "
                                "catalogue.")
            return path.read_bytes()
        except FileNotFoundError:
            raise UserError(f"There is no file {path}.") from None
        except IsADirectoryError:
            raise UserError(f"{path} is a folder, not a file.") from None
        except OSError as exc:
            raise UserError(f"Cannot read {path}: {exc.strerror or exc}") from exc
    scheme = urllib.parse.urlsplit(text).scheme.lower()
    if scheme not in ("http", "https"):
        raise UserError(f"Only http and https URLs can be fetched, not '{scheme}:'.")
    request = urllib.request.Request(text, headers={  # noqa: S310 - scheme checked above
        "User-Agent": f"PatchDesk/{__version__}", "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            data: bytes = response.read(MAX_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise UserError(f"{text} answered HTTP {exc.code} {exc.reason}.") from None
    except urllib.error.URLError as exc:
        raise UserError(f"Cannot fetch {text}: {exc.reason}. Check the network, or "
                        "download the file and import it from disk.") from None
    except TimeoutError:
        raise UserError(f"Fetching {text} timed out after {timeout:g} s; try again, or "
                        "download the file and import it from disk.") from None
    except OSError as exc:
        raise UserError(f"Cannot fetch {text}: {exc}") from None
    if len(data) > MAX_BYTES:
        raise UserError(f"{text} sent more than {MAX_BYTES // 1_048_576} MB; that is not a "
                        "KEV catalogue.")
    return data


# -- large feeds (NVD, EPSS, Debian tracker, Ubuntu OSV): streamed, never read whole ----------
#: Largest feed file accepted (the Debian tracker's JSON is ~80 MB, a NVD year ~300 MB).
FEED_MAX_BYTES = 2 * 1024 * 1024 * 1024
CHUNK = 1024 * 1024
#: Where each feed is published (offered by the GUI's "Update now"; fetched only when asked).
FEED_URLS = {
    "debian": "https://security-tracker.debian.org/tracker/data/json",
    "nvd": "https://nvd.nist.gov/feeds/json/cve/2.0/nvdcve-2.0-recent.json.gz",
    "epss": "https://epss.empiricalsecurity.com/epss_scores-current.csv.gz",
    "kev": KEV_URL,
}

#: ``progress(done_bytes, total_bytes or None)``.
Progress = Callable[[int, int | None], None]


class FeedCancelledError(UserError, Cancelled):
    """The person stopped the import; nothing was changed."""


@dataclass(slots=True)
class FeedFile:
    """An opened feed: its (decompressed) bytes in chunks, its label and date."""

    path: Path
    label: str
    modified: str  # Last-Modified of a URL / the file's mtime, ISO ("" unknown)
    progress: Progress | None = None
    should_stop: Callable[[], bool] | None = None

    def chunks(self) -> Iterator[bytes]:
        """The content in chunks (gunzipped when the file is gzip), checking for a cancel
        and reporting progress (bytes of the file read) between chunks."""
        total = self.path.stat().st_size
        with self.path.open("rb") as raw:
            magic = raw.read(2)
            raw.seek(0)
            stream: BinaryIO = raw
            if magic == b"\x1f\x8b":
                stream = gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[assignment]
            try:
                while True:
                    if self.should_stop is not None and self.should_stop():
                        raise FeedCancelledError("Import cancelled; nothing was changed.")
                    try:
                        chunk = stream.read(CHUNK)
                    except (OSError, EOFError) as exc:
                        raise UserError(f"{self.label} is not readable: {exc}") from None
                    if not chunk:
                        return
                    if self.progress is not None:
                        self.progress(raw.tell(), total)
                    yield chunk
            finally:
                if stream is not raw:
                    stream.close()

    def lines(self) -> Iterator[str]:
        """The content as text lines (UTF-8), streamed."""
        decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="replace")
        rest = ""
        for chunk in self.chunks():
            rest += decoder.decode(chunk)
            *done, rest = rest.split("\n")
            yield from done
        rest += decoder.decode(b"", final=True)
        if rest:
            yield rest


@contextmanager
def open_feed(source: str | Path, *, timeout: float = 60.0, progress: Progress | None = None,
              should_stop: Callable[[], bool] | None = None) -> Iterator[FeedFile]:
    """A feed file or http(s) URL, opened for streaming. A URL is downloaded to a private
    temporary file first (progress, cancel, size cap), so a dropped connection never leaves
    a half-imported feed.

    Raises:
        UserError: missing file, refused scheme, HTTP error, too large; FeedCancelledError.
    """
    text = str(source)
    if not is_url(text):
        path = Path(text).expanduser()
        try:
            info = path.stat()
        except FileNotFoundError:
            raise UserError(f"There is no file {path}.") from None
        except OSError as exc:
            raise UserError(f"Cannot read {path}: {exc.strerror or exc}") from None
        if path.is_dir():
            raise UserError(f"{path} is a folder, not a file.")
        if info.st_size > FEED_MAX_BYTES:
            raise UserError(f"{path} is {info.st_size // 1_048_576} MB; that is larger than "
                            "any feed PatchDesk reads.")
        modified = datetime.fromtimestamp(info.st_mtime, UTC).isoformat(timespec="seconds")
        yield FeedFile(path, str(path), modified, progress, should_stop)
        return
    with tempfile.TemporaryDirectory(prefix="patchdesk-feed-") as folder:
        path = Path(folder) / "feed"
        modified = _download(text, path, timeout, progress, should_stop)
        yield FeedFile(path, text, modified, progress, should_stop)


def _download(url: str, path: Path, timeout: float, progress: Progress | None,
              should_stop: Callable[[], bool] | None) -> str:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https"):
        raise UserError(f"Only http and https URLs can be fetched, not '{scheme}:'.")
    request = urllib.request.Request(url, headers={  # noqa: S310 - scheme checked above
        "User-Agent": f"PatchDesk/{__version__}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, \
                path.open("wb") as out:  # noqa: S310
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while True:
                if should_stop is not None and should_stop():
                    raise FeedCancelledError("Download cancelled; nothing was changed.")
                chunk = response.read(CHUNK)
                if not chunk:
                    break
                done += len(chunk)
                if done > FEED_MAX_BYTES:
                    raise UserError(f"{url} sent more than {FEED_MAX_BYTES // 1_048_576} MB; "
                                    "that is not a feed PatchDesk reads.")
                out.write(chunk)
                if progress is not None:
                    progress(done, total)
            stamp = response.headers.get("Last-Modified") or ""
    except urllib.error.HTTPError as exc:
        raise UserError(f"{url} answered HTTP {exc.code} {exc.reason}.") from None
    except urllib.error.URLError as exc:
        raise UserError(f"Cannot fetch {url}: {exc.reason}. Check the network, or download "
                        "the file and import it from disk.") from None
    except TimeoutError:
        raise UserError(f"Fetching {url} timed out after {timeout:g} s; try again, or "
                        "download the file and import it from disk.") from None
    except OSError as exc:
        raise UserError(f"Cannot fetch {url}: {exc}") from None
    try:
        return parsedate_to_datetime(stamp).astimezone(UTC).isoformat() if stamp else ""
    except (TypeError, ValueError):
        return ""
