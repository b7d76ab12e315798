"""The KEV catalogue parser on the real sample and on broken files."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from app.core.kev import KevFormatError, kev_matches, parse_kev

SAMPLE = Path(__file__).parents[1] / "data" / "kev" / "known_exploited_vulnerabilities.json"
RESOURCE = Path(__file__).parents[2] / "resources" / "data" / SAMPLE.name


def test_parses_the_real_sample() -> None:
    catalog = parse_kev(SAMPLE.read_bytes())
    assert catalog.title == "CISA Catalog of Known Exploited Vulnerabilities"
    assert catalog.version == "2025.02.25"
    assert len(catalog.entries) == 20
    kernel = catalog.by_cve()["CVE-2024-53104"]
    assert (kernel.vendor_project, kernel.product) == ("Linux", "Kernel")
    assert kernel.date_added == date(2025, 2, 5)
    assert kernel.due_date == date(2025, 2, 26)
    assert kernel.ransomware is False
    assert "uvc_parse_streaming" in kernel.short_description
    assert "\u201cnobody\u201d" in catalog.by_cve()["CVE-2025-0111"].short_description


def test_the_shipped_resource_is_the_test_sample() -> None:
    assert RESOURCE.read_bytes() == SAMPLE.read_bytes()


def _doc(**changes: object) -> dict[str, object]:
    doc: dict[str, object] = json.loads(SAMPLE.read_text(encoding="utf-8"))
    doc.update(changes)
    return doc


def test_known_ransomware_use_and_duplicates() -> None:
    doc = _doc()
    vulns = doc["vulnerabilities"]
    assert isinstance(vulns, list)
    vulns[0]["knownRansomwareCampaignUse"] = "Known"
    vulns.append(dict(vulns[0], shortDescription="duplicate"))
    doc["count"] = len(vulns)
    catalog = parse_kev(json.dumps(doc))
    assert len(catalog.entries) == 20
    assert catalog.by_cve()["CVE-2023-34192"].ransomware is True
    assert catalog.by_cve()["CVE-2023-34192"].short_description != "duplicate"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"<html>rate limited</html>", "not JSON"),
        (b"[1, 2]", "no 'vulnerabilities' list"),
        (json.dumps({"vulnerabilities": {}}).encode(), "no 'vulnerabilities' list"),
        (json.dumps(_doc(count=1280)).encode(), "'count' says 1280"),
        (json.dumps({"vulnerabilities": [{"product": "x"}]}).encode(), "has no 'cveID'"),
        (json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-1; rm -rf /"}]}).encode(),
         "is not a CVE id"),
        (json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-12345", "dueDate": "soon"}]}
                    ).encode(), "'dueDate' is not a date"),
        (json.dumps({"vulnerabilities": [{"cveID": "CVE-2024-12345", "product": 7}]}
                    ).encode(), "'product' is not text"),
        (json.dumps({"vulnerabilities": ["CVE-2024-12345"]}).encode(), "is not an object"),
    ],
)
def test_refuses_files_that_are_not_a_catalogue(data: bytes, message: str) -> None:
    with pytest.raises(KevFormatError, match=message):
        parse_kev(data)


def test_matches_cves_case_insensitively_in_the_patch_order() -> None:
    catalogue = parse_kev(SAMPLE.read_bytes()).by_cve()
    found = kev_matches(("CVE-2000-0001", "cve-2025-0411", "CVE-2024-53104", "CVE-2025-0411"),
                        catalogue)
    assert [e.cve_id for e in found] == ["CVE-2025-0411", "CVE-2024-53104"]
    assert kev_matches((), catalogue) == ()
