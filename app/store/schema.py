"""The numbered schema migrations of a site file (sqlite-utils ``Migrations``).

Never edit a migration that has shipped: add a new numbered one. The set of names applied
to a file tells its schema version; a file with names this build does not know was written
by a newer PatchDesk and is refused rather than damaged.
"""

from __future__ import annotations

from sqlite_utils import Database
from sqlite_utils.migrations import Migrations

#: ``PRAGMA application_id`` of every site file: "PDST" in ASCII.
APPLICATION_ID = 0x50445354

migrations = Migrations("patchdesk")


@migrations(name="0001_initial")
def m0001_initial(db: Database) -> None:
    """Site, assets, software, asset patches and the audit log."""
    db.execute(
        """
        CREATE TABLE site (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            name TEXT NOT NULL,
            client TEXT NOT NULL DEFAULT '',
            address TEXT NOT NULL DEFAULT '',
            msp_name TEXT NOT NULL DEFAULT '',
            logo_path TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL,
            settings TEXT NOT NULL DEFAULT '{}',
            audit_head_id INTEGER NOT NULL DEFAULT 0,
            audit_head_hash TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE assets (
            id INTEGER PRIMARY KEY,
            hostname TEXT NOT NULL DEFAULT '',
            location TEXT NOT NULL DEFAULT '',
            ips TEXT NOT NULL DEFAULT '[]',
            macs TEXT NOT NULL DEFAULT '[]',
            os_family TEXT NOT NULL DEFAULT 'unknown',
            os_name TEXT NOT NULL DEFAULT '',
            os_version TEXT NOT NULL DEFAULT '',
            os_build TEXT NOT NULL DEFAULT '',
            kind TEXT NOT NULL DEFAULT 'unknown',
            manufacturer TEXT NOT NULL DEFAULT '',
            model TEXT NOT NULL DEFAULT '',
            serial TEXT NOT NULL DEFAULT '',
            vendor TEXT NOT NULL DEFAULT '',
            order_number TEXT NOT NULL DEFAULT '',
            purchase_date TEXT,
            warranty_end TEXT,
            support_contact TEXT NOT NULL DEFAULT '',
            owner TEXT NOT NULL DEFAULT '',
            tags TEXT NOT NULL DEFAULT '[]',
            ring TEXT NOT NULL DEFAULT '',
            impact TEXT NOT NULL DEFAULT 'low',
            data_sensitivity TEXT NOT NULL DEFAULT '[]',
            critical_operations INTEGER NOT NULL DEFAULT 0,
            public_facing INTEGER NOT NULL DEFAULT 0,
            internet_facing INTEGER NOT NULL DEFAULT 0,
            notes TEXT NOT NULL DEFAULT '',
            field_sources TEXT NOT NULL DEFAULT '{}',
            first_seen TEXT,
            last_seen TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_assets_hostname ON assets(hostname COLLATE NOCASE)")
    db.execute(
        """
        CREATE TABLE software (
            id INTEGER PRIMARY KEY,
            asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
            name TEXT NOT NULL,
            version TEXT NOT NULL DEFAULT '',
            arch TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL DEFAULT '',
            seen_at TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_software_asset ON software(asset_id)")
    db.execute(
        """
        CREATE TABLE asset_patches (
            id INTEGER PRIMARY KEY,
            asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
            package TEXT NOT NULL,
            kb TEXT NOT NULL DEFAULT '',
            installed_version TEXT NOT NULL DEFAULT '',
            candidate_version TEXT NOT NULL DEFAULT '',
            classification TEXT NOT NULL DEFAULT 'other',
            severity TEXT NOT NULL DEFAULT 'unknown',
            source TEXT NOT NULL DEFAULT '',
            cves TEXT NOT NULL DEFAULT '[]',
            advisories TEXT NOT NULL DEFAULT '[]',
            reboot_required INTEGER NOT NULL DEFAULT 0,
            status TEXT NOT NULL DEFAULT 'missing',
            first_seen TEXT,
            last_seen TEXT
        )
        """
    )
    db.execute("CREATE INDEX idx_asset_patches_asset ON asset_patches(asset_id)")
    db.execute(
        """
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            ts TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL DEFAULT '',
            object_id TEXT NOT NULL DEFAULT '',
            details TEXT NOT NULL DEFAULT '{}',
            outcome TEXT NOT NULL DEFAULT 'ok',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_audit_object ON audit_log(object_type, object_id)")
    # Append-only inside the application. Someone with the file and sqlite3 can still drop
    # these triggers; the hash chain is what detects that (`patchdesk audit verify`).
    db.execute(
        "CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )
    db.execute(
        "CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log "
        "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END"
    )


@migrations(name="0002_discovery")
def m0002_discovery(db: Database) -> None:
    """Scan history with per-host observations, and what discovery last saw per asset."""
    db.execute("ALTER TABLE assets ADD COLUMN open_ports TEXT NOT NULL DEFAULT '[]'")
    db.execute("ALTER TABLE assets ADD COLUMN nic_vendor TEXT NOT NULL DEFAULT ''")
    db.execute(
        """
        CREATE TABLE scans (
            id INTEGER PRIMARY KEY,
            started_at TEXT NOT NULL,
            finished_at TEXT,
            targets TEXT NOT NULL,
            exclude TEXT NOT NULL DEFAULT '',
            ports TEXT NOT NULL DEFAULT '[]',
            addresses INTEGER NOT NULL DEFAULT 0,
            cancelled INTEGER NOT NULL DEFAULT 0,
            merged INTEGER NOT NULL DEFAULT 0,
            actor TEXT NOT NULL DEFAULT '',
            summary TEXT NOT NULL DEFAULT '{}'
        )
        """
    )
    db.execute(
        """
        CREATE TABLE scan_hosts (
            id INTEGER PRIMARY KEY,
            scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            ip TEXT NOT NULL,
            mac TEXT NOT NULL DEFAULT '',
            vendor TEXT NOT NULL DEFAULT '',
            hostnames TEXT NOT NULL DEFAULT '[]',
            netbios_name TEXT NOT NULL DEFAULT '',
            open_ports TEXT NOT NULL DEFAULT '[]',
            ssh_banner TEXT NOT NULL DEFAULT '',
            http_title TEXT NOT NULL DEFAULT '',
            http_server TEXT NOT NULL DEFAULT '',
            device_type TEXT NOT NULL DEFAULT '',
            os_guess TEXT NOT NULL DEFAULT '',
            evidence TEXT NOT NULL DEFAULT '[]',
            alive_reason TEXT NOT NULL DEFAULT '',
            change TEXT NOT NULL DEFAULT '',
            changes TEXT NOT NULL DEFAULT '{}',
            asset_id INTEGER REFERENCES assets(id) ON DELETE SET NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_scan_hosts_scan ON scan_hosts(scan_id)")
    db.execute(
        """
        CREATE TABLE scan_gone (
            scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
            asset_id INTEGER REFERENCES assets(id) ON DELETE SET NULL,
            label TEXT NOT NULL,
            ips TEXT NOT NULL DEFAULT '[]'
        )
        """
    )


@migrations(name="0003_remote")
def m0003_remote(db: Database) -> None:
    """Pinned SSH host keys, the encrypted credential vault and credential assignments."""
    db.execute(
        """
        CREATE TABLE host_keys (
            host TEXT NOT NULL,
            port INTEGER NOT NULL,
            key_type TEXT NOT NULL,
            key_b64 TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            first_seen TEXT NOT NULL,
            accepted_by TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (host, port, key_type)
        )
        """
    )
    db.execute(
        """
        CREATE TABLE vault (
            id INTEGER PRIMARY KEY CHECK (id = 1),
            kdf TEXT NOT NULL,
            salt BLOB NOT NULL,
            params TEXT NOT NULL,
            verifier BLOB NOT NULL,
            created_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE credentials (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            kind TEXT NOT NULL,
            username TEXT NOT NULL DEFAULT '',
            port INTEGER,
            key_path TEXT NOT NULL DEFAULT '',
            sudo_mode TEXT NOT NULL DEFAULT 'password',
            options TEXT NOT NULL DEFAULT '{}',
            secret BLOB,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE credential_scopes (
            credential_id INTEGER NOT NULL REFERENCES credentials(id) ON DELETE CASCADE,
            scope TEXT NOT NULL,
            value TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (credential_id, scope, value)
        )
        """
    )


@migrations(name="0004_assessments")
def m0004_assessments(db: Database) -> None:
    """Deep-scan results per asset: facts, outcome, per-host errors; patch evidence."""
    db.execute(
        """
        CREATE TABLE assessments (
            id INTEGER PRIMARY KEY,
            asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            ok INTEGER NOT NULL,
            error_kind TEXT NOT NULL DEFAULT '',
            error TEXT NOT NULL DEFAULT '',
            driver TEXT NOT NULL DEFAULT '',
            facts TEXT NOT NULL DEFAULT '{}',
            packages INTEGER NOT NULL DEFAULT 0,
            updates INTEGER NOT NULL DEFAULT 0,
            security_updates INTEGER NOT NULL DEFAULT 0,
            reboot_required INTEGER,
            reboot_reasons TEXT NOT NULL DEFAULT '[]',
            warnings TEXT NOT NULL DEFAULT '[]'
        )
        """
    )
    db.execute("CREATE INDEX idx_assessments_asset ON assessments(asset_id, id)")
    db.execute("ALTER TABLE asset_patches ADD COLUMN arch TEXT NOT NULL DEFAULT ''")
    db.execute("CREATE UNIQUE INDEX idx_asset_patches_key ON asset_patches(asset_id, package)")


@migrations(name="0005_deployments")
def m0005_deployments(db: Database) -> None:
    """Deployments (their whole state, rewritten after every step) and their step log."""
    db.execute(
        """
        CREATE TABLE deployments (
            id INTEGER PRIMARY KEY,
            phase TEXT NOT NULL,
            data TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )
        """
    )
    db.execute(
        """
        CREATE TABLE deployment_log (
            id INTEGER PRIMARY KEY,
            deployment_id INTEGER NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
            ts TEXT NOT NULL,
            asset_id INTEGER,
            message TEXT NOT NULL
        )
        """
    )
    db.execute("CREATE INDEX idx_deployment_log ON deployment_log(deployment_id, id)")


@migrations(name="0006_reports")
def m0006_reports(db: Database) -> None:
    """Generated reports and their key figures (the next report's trend compares to them)."""
    db.execute(
        """
        CREATE TABLE report_runs (
            id INTEGER PRIMARY KEY,
            generated_at TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            period_from TEXT,
            period_to TEXT,
            sections TEXT NOT NULL DEFAULT '[]',
            figures TEXT NOT NULL DEFAULT '{}',
            file TEXT NOT NULL DEFAULT ''
        )
        """
    )


@migrations(name="0007_risk_policy")
def m0007_risk_policy(db: Database) -> None:
    """KEV catalogue and its imports, versioned patch policy, urgency reviews/exceptions."""
    db.execute(
        """
        CREATE TABLE kev_entries (
            cve_id TEXT PRIMARY KEY,
            vendor_project TEXT NOT NULL DEFAULT '',
            product TEXT NOT NULL DEFAULT '',
            name TEXT NOT NULL DEFAULT '',
            date_added TEXT,
            short_description TEXT NOT NULL DEFAULT '',
            required_action TEXT NOT NULL DEFAULT '',
            due_date TEXT,
            ransomware INTEGER NOT NULL DEFAULT 0,
            notes TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute(
        """
        CREATE TABLE kev_imports (
            id INTEGER PRIMARY KEY,
            imported_at TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            title TEXT NOT NULL DEFAULT '',
            catalog_version TEXT NOT NULL DEFAULT '',
            date_released TEXT NOT NULL DEFAULT '',
            entries INTEGER NOT NULL,
            added INTEGER NOT NULL DEFAULT 0,
            removed INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute(
        """
        CREATE TABLE policy_versions (
            version INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            author TEXT NOT NULL,
            note TEXT NOT NULL DEFAULT '',
            data TEXT NOT NULL
        )
        """
    )
    # A saved policy version is a record of what was in force: never changed afterwards.
    db.execute(
        "CREATE TRIGGER policy_versions_no_update BEFORE UPDATE ON policy_versions "
        "BEGIN SELECT RAISE(ABORT, 'policy versions are never changed'); END"
    )
    db.execute(
        "CREATE TRIGGER policy_versions_no_delete BEFORE DELETE ON policy_versions "
        "BEGIN SELECT RAISE(ABORT, 'policy versions are never deleted'); END"
    )
    db.execute(
        """
        CREATE TABLE urgency_reviews (
            id INTEGER PRIMARY KEY,
            decision TEXT NOT NULL,
            asset_id INTEGER REFERENCES assets(id) ON DELETE CASCADE,
            host TEXT NOT NULL DEFAULT '',
            package TEXT NOT NULL DEFAULT '',
            cve TEXT NOT NULL DEFAULT '',
            reason TEXT NOT NULL,
            decided_by TEXT NOT NULL,
            created_at TEXT NOT NULL,
            until TEXT,
            planned TEXT,
            ended_at TEXT,
            ended_by TEXT NOT NULL DEFAULT '',
            actor TEXT NOT NULL DEFAULT ''
        )
        """
    )
    db.execute("CREATE INDEX idx_urgency_reviews_package ON urgency_reviews(package)")


def known_migration_names() -> list[str]:
    """Names of every migration this build knows, in order."""
    return [m.name for m in migrations._migrations]


@migrations(name="0008_patches_per_arch")
def m0008_patches_per_arch(db: Database) -> None:
    """A missing update is keyed by (asset, package, architecture): a multilib/multiarch
    pair (glibc.x86_64 + glibc.i686, libc6:amd64 + libc6:i386) is two rows, not a clash."""
    db.execute("DROP INDEX idx_asset_patches_key")
    db.execute("CREATE UNIQUE INDEX idx_asset_patches_key "
               "ON asset_patches(asset_id, package, arch)")


@migrations(name="0010_changelog_cache")
def m0010_changelog_cache(db: Database) -> None:
    """Changelog/CVE cache (one row per source package and candidate version, shared by
    every host of the site), each assessment's lookup figures, classification evidence."""
    db.execute(
        """
        CREATE TABLE changelog_cache (
            package TEXT NOT NULL,
            version TEXT NOT NULL,
            status TEXT NOT NULL,
            entries TEXT NOT NULL DEFAULT '[]',
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (package, version)
        )
        """
    )
    db.execute("ALTER TABLE assessments ADD COLUMN lookups TEXT NOT NULL DEFAULT '{}'")
    db.execute("ALTER TABLE asset_patches ADD COLUMN evidence TEXT NOT NULL DEFAULT '[]'")


@migrations(name="0011_audit_seal")
def m0011_audit_seal(db: Database) -> None:
    """Forward-secure seals on the audit log ([12].6): a MAC per row, the current sealing
    key and the row it seals next (in clear: it can only seal later rows), and the first
    key sealed in the credential vault."""
    db.execute("ALTER TABLE audit_log ADD COLUMN mac TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE site ADD COLUMN audit_key TEXT NOT NULL DEFAULT ''")
    db.execute("ALTER TABLE site ADD COLUMN audit_key_next INTEGER NOT NULL DEFAULT 0")
    db.execute("ALTER TABLE site ADD COLUMN audit_seal BLOB")


@migrations(name="0012_people")
def m0012_people(db: Database) -> None:
    """Named people and the scrypt hash of each one's PIN: approving, deploying with an
    approval and granting exceptions need proof of the named person ([12].8)."""
    db.execute(
        """
        CREATE TABLE people (
            name TEXT PRIMARY KEY COLLATE NOCASE,
            pin_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            created_by TEXT NOT NULL DEFAULT ''
        )
        """
    )
    # A host whose facts claim an identity (a MAC address) another asset has: both records
    # are kept and the conflict waits for a person ([12].5).
    db.execute(
        """
        CREATE TABLE identity_conflicts (
            id INTEGER PRIMARY KEY,
            asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
            other_asset_id INTEGER NOT NULL REFERENCES assets(id) ON DELETE CASCADE,
            mac TEXT NOT NULL,
            source TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            resolved_at TEXT,
            UNIQUE (asset_id, other_asset_id, mac)
        )
        """
    )


@migrations(name="0013_schedules")
def m0013_schedules(db: Database) -> None:
    """Scheduled jobs of the background runner (``patchdesk schedule``, ``run-due``)."""
    db.execute(
        """
        CREATE TABLE schedules (
            id INTEGER PRIMARY KEY,
            kind TEXT NOT NULL,
            arg TEXT NOT NULL DEFAULT '',
            spec TEXT NOT NULL,
            next_run TEXT,
            last_run TEXT,
            last_status TEXT NOT NULL DEFAULT '',
            last_result TEXT NOT NULL DEFAULT '',
            enabled INTEGER NOT NULL DEFAULT 1,
            created_by TEXT NOT NULL DEFAULT '',
            created_at TEXT NOT NULL
        )
        """
    )


@migrations(name="0014_feeds")
def m0014_feeds(db: Database) -> None:
    """Vulnerability data feeds: each import (source, the feed's own date, record counts),
    distribution fixes (Debian tracker, Ubuntu OSV: package + fixed version → CVE,
    urgency), NVD CVSS base scores and FIRST EPSS probabilities by CVE."""
    db.execute(
        """
        CREATE TABLE feed_imports (
            id INTEGER PRIMARY KEY,
            feed TEXT NOT NULL,
            imported_at TEXT NOT NULL,
            actor TEXT NOT NULL DEFAULT '',
            source TEXT NOT NULL,
            feed_date TEXT NOT NULL DEFAULT '',
            version TEXT NOT NULL DEFAULT '',
            records INTEGER NOT NULL,
            skipped INTEGER NOT NULL DEFAULT 0
        )
        """
    )
    db.execute("CREATE INDEX idx_feed_imports_feed ON feed_imports(feed, id)")
    db.execute(
        """
        CREATE TABLE vuln_fixes (
            distro TEXT NOT NULL,
            release TEXT NOT NULL,
            package TEXT NOT NULL,
            cve TEXT NOT NULL,
            fixed_version TEXT NOT NULL,
            urgency TEXT NOT NULL DEFAULT '',
            advisory TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (distro, release, package, cve, fixed_version)
        ) WITHOUT ROWID
        """
    )
    db.execute("CREATE INDEX idx_vuln_fixes_package ON vuln_fixes(package, release)")
    db.execute(
        """
        CREATE TABLE cvss_scores (
            cve TEXT PRIMARY KEY,
            score REAL NOT NULL,
            version TEXT NOT NULL,
            vector TEXT NOT NULL DEFAULT '',
            severity TEXT NOT NULL DEFAULT '',
            scorer TEXT NOT NULL DEFAULT ''
        ) WITHOUT ROWID
        """
    )
    db.execute(
        """
        CREATE TABLE epss_scores (
            cve TEXT PRIMARY KEY,
            epss REAL NOT NULL,
            percentile REAL NOT NULL
        ) WITHOUT ROWID
        """
    )
