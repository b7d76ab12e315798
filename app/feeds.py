"""Reading advisory feeds (the CISA KEV catalogue) from a file or an http(s) URL.

Only fetching lives here; parsing and checking is :mod:`app.core.kev`. A URL is fetched
with urllib, a timeout and a size cap; only ``http`` and ``https`` are accepted, so a
``file:`` or ``ftp:`` URL typed by mistake is refused rather than followed.
"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

from app import __version__
from app.core.errors import UserError
from app.core.kev import MAX_BYTES

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
