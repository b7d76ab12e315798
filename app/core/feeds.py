"""Vulnerability data feeds: parsing the Debian Security Tracker JSON, Ubuntu's OSV
records (USN / UBUNTU-CVE), NVD CVE JSON 2.0 and FIRST's EPSS CSV.

Pure: the parsers read from an iterable of byte chunks or text lines handed to them
(:mod:`app.feeds` opens files and URLs, gunzips). The big feeds (NVD yearly files, the
Debian tracker's ~80 MB JSON, the EPSS CSV of ~300,000 rows) are read incrementally: one
record at a time is decoded (:class:`JsonStream`), never the whole document.

Every feed is untrusted: a record that does not fit its documented shape is skipped and
counted (``skipped``); a file with no usable record at all, or that is not the format
named, is refused with :class:`FeedFormatError` (nothing is imported).

Formats:

* Debian: https://security-tracker.debian.org/tracker/data/json —
  ``{source_pkg: {CVE: {releases: {codename: {status, fixed_version, urgency}}}}}``; only
  ``resolved`` entries with a real ``fixed_version`` (not ``0``: never affected) name a fix.
* Ubuntu: OSV 1.x records of https://github.com/canonical/ubuntu-security-notices (``osv/``):
  ``affected[].package`` (``ecosystem`` ``Ubuntu:22.04:LTS``, source ``name``),
  ``ranges[].events[].fixed``; the CVE ids come from the id (``UBUNTU-CVE-…``),
  ``upstream`` and ``aliases``. One record, a list of records, or ``{"vulns": [...]}``.
* NVD: CVE API 2.0 / JSON 2.0 feed — ``{format: NVD_CVE, version: 2.0, timestamp,
  vulnerabilities: [{cve: {id, metrics: {cvssMetricV40|V31|V30: [{source, type,
  cvssData: {version, vectorString, baseScore, baseSeverity}}]}}}]}``.
* EPSS: ``#model_version:v2025.03.14,score_date:2025-08-15T00:00:00+0000`` then
  ``cve,epss,percentile`` rows.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from app.core.errors import UserError
from app.core.kev import CVE_ID

#: The feeds PatchDesk imports (``kev`` is :mod:`app.core.kev`).
FEEDS = ("debian", "ubuntu", "nvd", "epss", "kev")
FEED_TITLES = {"debian": "Debian Security Tracker", "ubuntu": "Ubuntu security notices (OSV)",
               "nvd": "NVD CVE (CVSS)", "epss": "FIRST EPSS", "kev": "CISA KEV"}
#: The urgencies/priorities the trackers use, lowest first ("" = not given).
URGENCY_ORDER = ("unimportant", "low", "medium", "high", "critical")
_VERSION = re.compile(r"^[A-Za-z0-9.+~:_-]{1,200}$")
_PACKAGE = re.compile(r"^[a-z0-9][a-z0-9+.-]{0,127}$")
_RELEASE = re.compile(r"^[A-Za-z0-9._-]{1,40}$")


class FeedFormatError(UserError):
    """The file is not the feed it was imported as; nothing was imported."""


# -- records ---------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FixRecord:
    """A distribution's fix of one CVE in one source package of one release."""

    distro: str  # debian / ubuntu
    release: str  # bookworm / 22.04
    package: str  # source package
    cve: str
    fixed_version: str
    urgency: str = ""  # tracker urgency / Ubuntu priority, lower case
    advisory: str = ""  # USN-6369-1 / DSA id where known


@dataclass(frozen=True, slots=True)
class CvssRecord:
    """The CVSS base score NVD carries for one CVE (the newest CVSS version given, NVD's
    own "Primary" score preferred over a CNA's "Secondary" one)."""

    cve: str
    score: float
    version: str  # 4.0 / 3.1 / 3.0
    vector: str
    severity: str = ""
    scorer: str = ""  # nvd@nist.gov, or the CNA


@dataclass(frozen=True, slots=True)
class EpssRecord:
    """The EPSS probability of exploitation in the next 30 days, and its percentile."""

    cve: str
    epss: float
    percentile: float


@dataclass(slots=True)
class FeedHeader:
    """What a feed says about itself (filled while its records are read)."""

    date: str = ""  # the feed's own date (ISO), "" when it gives none
    version: str = ""  # model / format version
    records: int = 0
    skipped: int = 0
    notes: list[str] = field(default_factory=list)


# -- incremental JSON ------------------------------------------------------------------------
class JsonStream:
    """Decode a JSON document's top-level members one at a time from byte chunks.

    Only the value being decoded is held (a top-level member of the Debian tracker is one
    source package; an element of NVD's ``vulnerabilities`` is one CVE).
    """

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._decoder = codecs.getincrementaldecoder("utf-8-sig")()
        self._json = json.JSONDecoder()
        self._buf = ""
        self._pos = 0
        self._eof = False

    def _more(self) -> bool:
        if self._eof:
            return False
        try:
            chunk = next(self._chunks)
        except StopIteration:
            self._buf = self._buf[self._pos:] + self._decoder.decode(b"", final=True)
            self._pos = 0
            self._eof = True
            return False
        except UnicodeDecodeError:
            raise FeedFormatError("the file is not UTF-8 text") from None
        try:
            text = self._decoder.decode(chunk)
        except UnicodeDecodeError:
            raise FeedFormatError("the file is not UTF-8 text") from None
        self._buf = self._buf[self._pos:] + text
        self._pos = 0
        return True

    def _peek(self) -> str:
        while True:
            while self._pos < len(self._buf) and self._buf[self._pos] in " \t\r\n":
                self._pos += 1
            if self._pos < len(self._buf):
                return self._buf[self._pos]
            if not self._more():
                return ""

    def _next(self) -> str:
        char = self._peek()
        if not char:
            raise FeedFormatError("the JSON ends early: the file is truncated")
        self._pos += 1
        return char

    def expect(self, char: str) -> None:
        """Consume ``char`` (after whitespace) or refuse the file."""
        found = self._peek()
        if found != char:
            raise FeedFormatError(f"expected '{char}' in the JSON, found "
                                  f"{found[:1]!r} at offset {self._pos}")
        self._pos += 1

    def value(self) -> Any:
        """Decode the next JSON value whole."""
        self._peek()
        while True:
            try:
                value, end = self._json.raw_decode(self._buf, self._pos)
            except json.JSONDecodeError as exc:
                if self._more():
                    continue
                raise FeedFormatError(f"invalid JSON ({exc.msg})") from None
            # a number or literal at the end of the buffer may go on in the next chunk
            if end >= len(self._buf) and not self._eof \
                    and not isinstance(value, dict | list) and self._more():
                continue
            self._pos = end
            return value

    def members(self) -> Iterator[tuple[str, Callable[[], Any]]]:
        """The top-level object's members as (key, read-the-value); the caller must read
        or :meth:`skip` each value before asking for the next key."""
        self.expect("{")
        if self._peek() == "}":
            self._pos += 1
            return
        while True:
            key = self.value()
            if not isinstance(key, str):
                raise FeedFormatError("an object key is not text")
            self.expect(":")
            yield key, self.value
            nxt = self._next()
            if nxt == "}":
                return
            if nxt != ",":
                raise FeedFormatError(f"expected ',' or '}}' in the JSON, found {nxt[:1]!r}")

    def elements(self) -> Iterator[Any]:
        """The elements of the array that starts here, decoded one by one."""
        self.expect("[")
        if self._peek() == "]":
            self._pos += 1
            return
        while True:
            yield self.value()
            nxt = self._next()
            if nxt == "]":
                return
            if nxt != ",":
                raise FeedFormatError(f"expected ',' or ']' in the JSON, found {nxt[:1]!r}")

    def at_end(self) -> bool:
        """Nothing but whitespace is left."""
        return self._peek() == ""


def _cve(value: Any) -> str:
    text = value.strip().upper() if isinstance(value, str) else ""
    return text if CVE_ID.fullmatch(text) else ""


def _urgency(value: Any) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    text = text.rstrip("*").strip()  # the tracker marks guessed urgencies with '*'
    return text if text in URGENCY_ORDER else ""


# -- Debian ----------------------------------------------------------------------------------
def parse_debian_tracker(chunks: Iterable[bytes], header: FeedHeader) -> Iterator[FixRecord]:
    """The fixes of the Debian Security Tracker's JSON, one source package at a time.

    Raises:
        FeedFormatError: not the tracker's JSON (a top-level value is not an object of
            CVE entries).
    """
    stream = JsonStream(chunks)
    for package, read in stream.members():
        entries = read()
        if not isinstance(entries, dict):
            raise FeedFormatError(f"Debian tracker: '{package[:40]}' is not an object of "
                                  "CVE entries; this is not the tracker's JSON")
        if not _PACKAGE.fullmatch(package):
            header.skipped += len(entries)
            continue
        for issue, entry in entries.items():
            cve = _cve(issue)
            releases = entry.get("releases") if isinstance(entry, dict) else None
            if not cve or not isinstance(releases, dict):
                header.skipped += 1  # TEMP-… ids have no CVE to match
                continue
            for release, state in releases.items():
                if not isinstance(state, dict) or not _RELEASE.fullmatch(str(release)):
                    header.skipped += 1
                    continue
                fixed = state.get("fixed_version")
                if state.get("status") != "resolved" or not isinstance(fixed, str) \
                        or fixed in ("0", "") or not _VERSION.fullmatch(fixed):
                    continue  # open, undetermined, or never affected
                header.records += 1
                yield FixRecord("debian", str(release), package, cve, fixed,
                                _urgency(state.get("urgency")))


# -- Ubuntu (OSV) ----------------------------------------------------------------------------
_UBUNTU_ECOSYSTEM = re.compile(r"^Ubuntu:(?:Pro:(?:FIPS[^:]*:)?)?(\d{2}\.\d{2})(?::LTS)?$")


def _osv_records(chunks: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    stream = JsonStream(chunks)
    first = stream._peek()
    if first == "[":
        for item in stream.elements():
            if isinstance(item, dict):
                yield item
        return
    doc = stream.value()
    if isinstance(doc, dict) and isinstance(doc.get("vulns"), list):
        yield from (v for v in doc["vulns"] if isinstance(v, dict))
    elif isinstance(doc, dict):
        yield doc
    else:
        raise FeedFormatError("Ubuntu OSV: the file is not an OSV record or a list of them")


def parse_ubuntu_osv(chunks: Iterable[bytes], header: FeedHeader) -> Iterator[FixRecord]:
    """The fixes of Ubuntu's OSV records (USN-… and UBUNTU-CVE-…).

    Raises:
        FeedFormatError: not OSV (no ``id``/``affected``).
    """
    seen = 0
    for record in _osv_records(chunks):
        ident = record.get("id")
        if not isinstance(ident, str) or not isinstance(record.get("affected"), list):
            raise FeedFormatError("Ubuntu OSV: a record has no 'id' or 'affected' list; this "
                                  "is not OSV")
        seen += 1
        modified = record.get("modified")
        if isinstance(modified, str) and modified[:19] > header.date[:19]:
            header.date = modified
        cves: dict[str, None] = {}
        for name in [ident, *(record.get("upstream") or []), *(record.get("aliases") or [])]:
            cve = _cve(name.removeprefix("UBUNTU-") if isinstance(name, str) else name)
            if cve:
                cves.setdefault(cve, None)
        priority = ""
        for sev in record.get("severity") or []:
            if isinstance(sev, dict) and sev.get("type") == "Ubuntu":
                priority = _urgency(sev.get("score"))
        advisory = ident if ident.startswith("USN-") else ""
        if not cves:
            header.skipped += 1
            continue
        for affected in record["affected"]:
            package = affected.get("package") if isinstance(affected, dict) else None
            if not isinstance(package, dict):
                header.skipped += 1
                continue
            match = _UBUNTU_ECOSYSTEM.fullmatch(str(package.get("ecosystem", "")))
            name = str(package.get("name", ""))
            if not match or not _PACKAGE.fullmatch(name):
                header.skipped += 1
                continue
            for fixed in _osv_fixed(affected):
                for cve in cves:
                    header.records += 1
                    yield FixRecord("ubuntu", match.group(1), name, cve, fixed, priority,
                                    advisory)
    if not seen:
        raise FeedFormatError("Ubuntu OSV: the file holds no OSV record")


def _osv_fixed(affected: dict[str, Any]) -> list[str]:
    out: list[str] = []
    for rng in affected.get("ranges") or []:
        if not isinstance(rng, dict) or rng.get("type") != "ECOSYSTEM":
            continue
        for event in rng.get("events") or []:
            fixed = event.get("fixed") if isinstance(event, dict) else None
            if isinstance(fixed, str) and _VERSION.fullmatch(fixed) and fixed not in out:
                out.append(fixed)
    return out


# -- NVD -------------------------------------------------------------------------------------
_CVSS_KEYS = (("cvssMetricV40", "4.0"), ("cvssMetricV31", "3.1"), ("cvssMetricV30", "3.0"))


def best_cvss(cve: str, metrics: Any) -> CvssRecord | None:
    """The score a CVE is ranked by: the newest CVSS version present; within it NVD's
    "Primary" score, else the highest "Secondary" (CNA) one."""
    if not isinstance(metrics, dict):
        return None
    for key, version in _CVSS_KEYS:
        found: list[tuple[int, float, CvssRecord]] = []
        for metric in metrics.get(key) or []:
            data = metric.get("cvssData") if isinstance(metric, dict) else None
            if not isinstance(data, dict):
                continue
            base = data.get("baseScore")
            if isinstance(base, bool) or not isinstance(base, int | float) \
                    or not 0 <= base <= 10:
                continue
            vector = data.get("vectorString")
            record = CvssRecord(cve, float(base), str(data.get("version") or version),
                                vector if isinstance(vector, str) else "",
                                str(data.get("baseSeverity") or metric.get("baseSeverity")
                                    or "").lower(), str(metric.get("source") or ""))
            found.append((1 if metric.get("type") == "Primary" else 0, float(base), record))
        if found:
            return max(found, key=lambda f: (f[0], f[1]))[2]
    return None


def parse_nvd(chunks: Iterable[bytes], header: FeedHeader) -> Iterator[CvssRecord]:
    """CVSS base scores of an NVD CVE JSON 2.0 document, one CVE at a time.

    Raises:
        FeedFormatError: not NVD JSON 2.0 (no ``vulnerabilities`` list, another format).
    """
    stream = JsonStream(chunks)
    listed = False
    for key, read in stream.members():
        if key == "vulnerabilities":
            listed = True
            for item in stream.elements():
                cve = item.get("cve") if isinstance(item, dict) else None
                ident = _cve(cve.get("id")) if isinstance(cve, dict) else ""
                record = best_cvss(ident, cve.get("metrics")) if ident and cve else None
                if record is None:
                    header.skipped += 1
                    continue
                header.records += 1
                yield record
            continue
        value = read()
        if key == "format" and value != "NVD_CVE":
            raise FeedFormatError(f"NVD: format is {str(value)[:20]!r}, not NVD_CVE")
        if key == "version":
            header.version = str(value)
            if not str(value).startswith("2."):
                raise FeedFormatError(f"NVD: version {str(value)[:10]} is not the JSON 2.0 "
                                      "format (the 1.1 feeds were retired by NVD)")
        if key == "timestamp" and isinstance(value, str):
            header.date = value
    if not listed:
        raise FeedFormatError("NVD: no 'vulnerabilities' list; this is not an NVD CVE JSON "
                              "2.0 document")


# -- EPSS ------------------------------------------------------------------------------------
_EPSS_HEADER = re.compile(
    r"^#\s*model_version\s*:\s*(?P<model>[^,\s]+)\s*,\s*score_date\s*:\s*(?P<date>\S+)")


def parse_epss(lines: Iterable[str], header: FeedHeader) -> Iterator[EpssRecord]:
    """The rows of FIRST's EPSS CSV (``cve,epss,percentile``), one at a time.

    Raises:
        FeedFormatError: no ``cve,epss,percentile`` header line.
    """
    columns: list[str] | None = None
    for number, raw in enumerate(lines, 1):
        line = raw.strip().lstrip("\ufeff")
        if not line:
            continue
        if line.startswith("#"):
            match = _EPSS_HEADER.match(line)
            if match:
                header.version, header.date = match.group("model"), match.group("date")
            continue
        if columns is None:
            columns = [c.strip().lower() for c in line.split(",")]
            if not {"cve", "epss", "percentile"} <= set(columns):
                raise FeedFormatError(f"EPSS: line {number} is not the 'cve,epss,percentile' "
                                      "header; this is not FIRST's EPSS CSV")
            at = (columns.index("cve"), columns.index("epss"), columns.index("percentile"))
            continue
        cells = line.split(",")
        try:
            cve = _cve(cells[at[0]])
            epss, pct = float(cells[at[1]]), float(cells[at[2]])
        except (IndexError, ValueError):
            header.skipped += 1
            continue
        if not cve or not 0 <= epss <= 1 or not 0 <= pct <= 1:
            header.skipped += 1
            continue
        header.records += 1
        yield EpssRecord(cve, epss, pct)
    if columns is None:
        raise FeedFormatError("EPSS: no 'cve,epss,percentile' header; this is not FIRST's "
                              "EPSS CSV")


# -- status ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class FeedStatus:
    """The last import of one feed, as ``feeds status`` and the Policy page show it."""

    feed: str
    imported_at: datetime | None = None
    source: str = ""
    feed_date: str = ""  # the feed's own date ("" when it gives none)
    records: int = 0  # records of the last import
    stored: int = 0  # rows the site holds for this feed now
    actor: str = ""

    @property
    def title(self) -> str:
        """The feed's display name."""
        return FEED_TITLES.get(self.feed, self.feed)

    def as_of(self) -> datetime | None:
        """What the feed's age is counted from: its own date, else the import time."""
        if self.feed_date:
            try:
                when = datetime.fromisoformat(self.feed_date.replace("Z", "+00:00")[:32])
            except ValueError:
                when = None
            if when is not None:
                return when if when.tzinfo else when.replace(tzinfo=UTC)
        return self.imported_at

    def age_days(self, now: datetime) -> int | None:
        """Whole days since :meth:`as_of` (None: never imported)."""
        at = self.as_of()
        return None if at is None else max(0, (now - at).days)

    def stale(self, now: datetime, max_age_days: int) -> bool:
        """Imported, and older than the policy allows (a feed never imported is not
        stale: it is missing, and says so)."""
        age = self.age_days(now)
        return age is not None and age > max_age_days

    def to_dict(self, now: datetime, max_age_days: int) -> dict[str, Any]:
        """JSON-ready form (``feeds status --json``)."""
        return {"feed": self.feed, "title": self.title, "imported": self.imported_at is not None,
                "imported_at": self.imported_at.isoformat() if self.imported_at else None,
                "source": self.source or None, "feed_date": self.feed_date or None,
                "records": self.records, "stored": self.stored,
                "age_days": self.age_days(now), "max_age_days": max_age_days,
                "stale": self.stale(now, max_age_days)}


@dataclass(frozen=True, slots=True)
class CveIntel:
    """What the site's feeds know about one CVE (risk factors, patch details)."""

    cve: str
    cvss: CvssRecord | None = None
    epss: EpssRecord | None = None

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {"cve": self.cve,
                "cvss": None if self.cvss is None else {
                    "score": self.cvss.score, "version": self.cvss.version,
                    "vector": self.cvss.vector, "severity": self.cvss.severity,
                    "scorer": self.cvss.scorer, "source": "NVD"},
                "epss": None if self.epss is None else {
                    "probability": self.epss.epss, "percentile": self.epss.percentile,
                    "source": "FIRST EPSS"}}
