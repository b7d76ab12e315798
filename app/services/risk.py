"""Risk and policy: the KEV catalogue, the versioned patch policy, risk priorities, urgency
reviews and exceptions, and the SLA compliance figure."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from pathlib import Path

from app.core.clock import utcnow
from app.core.errors import UserError
from app.core.kev import KevEntry, parse_kev
from app.core.models import Asset, Outcome
from app.core.policy import Policy, PolicyVersion, Role, policy_diff, set_value
from app.core.risk import (
    Compliance,
    Decision,
    Review,
    RiskItem,
    check_review,
    prioritise,
)
from app.core.risk import compliance as compliance_figure
from app.feeds import kev_sample_path, read_source
from app.services.base import ServicePart
from app.store.repos import AuditRepo
from app.store.risk import KevImport, KevRepo, PolicyRepo, ReviewRepo


class RiskService(ServicePart):
    """What to patch first, by when, and who decided otherwise."""

    def kev_import(self, source: str | Path | None = None, *, sample: bool = False,
                   timeout: float = 30.0) -> KevImport:
        """Import the CISA KEV catalogue in place of the site's copy (audited).

        Args:
            source: a file or an http(s) URL in CISA's JSON format.
            sample: import the bundled 20-entry sample instead (offline first run, demos).
            timeout: seconds to wait for a URL.

        Raises:
            UserError: unreadable source, or not a KEV catalogue (nothing is changed).
        """
        if sample:
            source = kev_sample_path()
        if source is None:
            raise UserError("Give a file or URL of the KEV catalogue (or use the sample).")
        catalog = parse_kev(read_source(source, timeout))
        label = "bundled sample" if sample else str(source)
        with self.store.atomic() as db:
            result = KevRepo(db).replace(catalog, label, self.actor)
            AuditRepo(db).append(self.actor, "kev.import", "kev", catalog.version,
                                 {"source": label, **result.to_dict()})
        return result

    def kev_status(self) -> KevImport | None:
        """The last KEV import (None: never imported, so nothing is flagged as exploited)."""
        return KevRepo(self.store.db()).last_import()

    def kev_catalogue(self) -> dict[str, KevEntry]:
        """The site's KEV catalogue by CVE id."""
        return KevRepo(self.store.db()).entries()

    def policy(self, version: int | None = None) -> PolicyVersion:
        """The current patch policy (version 0 = built-in defaults), or one version."""
        repo = PolicyRepo(self.store.db())
        return repo.current() if version is None else repo.get(version)

    def policy_history(self) -> list[PolicyVersion]:
        """Every saved policy version, newest first."""
        return PolicyRepo(self.store.db()).history()

    def save_policy(self, policy: Policy, note: str = "") -> PolicyVersion:
        """Save a policy as a new version by the current actor (audited with the diff).

        Raises:
            UserError: the policy is the same as the current one.
        """
        with self.store.atomic() as db:
            repo = PolicyRepo(db)
            current = repo.current()
            diff = policy_diff(current.policy, policy)
            if not diff:
                raise UserError(f"Nothing changed: this is policy version {current.version}.")
            saved = repo.add(policy, self.actor, note.strip())
            AuditRepo(db).append(self.actor, "policy.set", "policy", str(saved.version),
                                 {"from_version": current.version, "changes": diff,
                                  "note": note.strip()})
        return saved

    def set_policy_values(self, pairs: Sequence[tuple[str, str]],
                          note: str = "") -> PolicyVersion:
        """Change policy settings (``KEY VALUE`` pairs, see :func:`app.core.policy.set_value`)
        and save the result as a new version.

        Raises:
            ValidationError: an unknown key or invalid value (nothing is saved).
        """
        policy = self.policy().policy
        for key, value in pairs:
            policy = set_value(policy, key, value)
        return self.save_policy(policy, note)

    def check_role(self, name: str, role: Role, action: str = "") -> None:
        """Refuse (audited) when the policy does not let ``name`` act in ``role``.

        A role nobody holds is open to everyone.

        Raises:
            UserError: naming who may.
        """
        current = self.policy()
        if current.policy.may(name, role):
            return
        holders = ", ".join(current.policy.holders(role))
        has = ", ".join(str(r) for r in current.policy.roles_of(name)) or "no role"
        message = (f"{name} may not {action or 'act as ' + str(role)}: patch policy "
                   f"version {current.version} gives that to {holders} only ({name} has "
                   f"{has}).")
        if action:
            with self.store.atomic() as db:
                AuditRepo(db).append(self.actor, "policy.refused", "policy",
                                     str(current.version), {"name": name, "role": str(role),
                                                            "action": action,
                                                            "refused": message},
                                     outcome=Outcome.DENIED)
        raise UserError(message)

    def approval_guard(self, approver: str) -> None:
        """The deployment engine's approval hook: only the policy's approvers may approve
        (anyone, while the policy names no approver). The engine audits the refusal."""
        current = self.policy()
        if current.policy.may(approver, Role.APPROVER):
            return
        has = ", ".join(str(r) for r in current.policy.roles_of(approver)) or "no role"
        raise UserError(
            f"{approver} may not approve deployments: patch policy version "
            f"{current.version} lets only {', '.join(current.policy.holders(Role.APPROVER))} "
            f"approve ({approver} has {has}).")

    def risk_items(self, now: datetime | None = None) -> list[RiskItem]:
        """Every missing update on the assets the policy covers: score, priority, due date,
        overdue flag, KEV entries, "why" factors and review — highest risk first."""
        db = self.store.db()
        patches = self.site.assess.patches()
        intel = self.site.feeds.intel(c for p in patches for c in p.cves)
        return prioritise(self.site.inventory.assets(), patches, self.kev_catalogue(),
                          self.policy().policy, ReviewRepo(db).all(), now or utcnow(),
                          intel=intel)

    def compliance(self, now: datetime | None = None) -> Compliance:
        """The SLA compliance figure and its parts (:func:`app.core.risk.compliance`)."""
        return self.risk_overview(now)[1]

    def risk_overview(self, now: datetime | None = None) -> tuple[list[RiskItem], Compliance]:
        """:meth:`risk_items` and the compliance figure made of those same items, computed
        once (the PDF report shows both; :meth:`compliance` is this figure)."""
        now = now or utcnow()
        items = self.risk_items(now)
        policy = self.policy().policy
        covered = [a for a in self.site.inventory.assets() if policy.in_scope(a)]
        records = self.site.assess.assessments()
        # Assessed = the latest deep scan succeeded; never scanned or failed (no
        # credential, refused, unreachable) is "not assessed", never compliant.
        assessed = sum(1 for a in covered if a.id in records and records[a.id].ok)
        return items, compliance_figure(items, len(covered), now, assessed)

    def add_review(self, decision: Decision, *, reason: str, by: str, package: str = "",
                   cve: str = "", host: str | None = None, until: date | None = None,
                   planned: date | None = None, pin: str | None = None) -> Review:
        """Record an urgency review by a named person (audited): patch now, schedule, or
        workaround + exception until a date. Granting an exception needs ``by``'s PIN
        ([12].8).

        Args:
            host: an asset selector (one asset); None covers every host.

        Raises:
            ValidationError: missing reason, name, update or expiry; past dates.
            UserError: the host matches several assets, or the policy names reviewers and
                ``by`` is not one of them (the refusal is audited).
        """
        asset: Asset | None = None
        if host:
            found = self.site.inventory.find_assets(host)
            if len(found) > 1:
                raise UserError(f"'{host}' matches {len(found)} assets; give one id.")
            asset = found[0]
        now = utcnow()
        review = check_review(Review(
            decision, reason, by, now, package, cve,
            asset.id if asset else None, asset.label if asset else "", until, planned),
            now.date())
        self.check_role(review.decided_by, Role.REVIEWER, f"record a '{decision}' decision")
        if decision is Decision.EXCEPTION:  # proof of the named person ([12].8)
            self.site.people.prove(review.decided_by, pin, "grant exceptions")
        with self.store.atomic() as db:
            stored = ReviewRepo(db).add(review, self.actor)
            AuditRepo(db).append(self.actor, f"review.{decision}", "review", str(stored.id),
                                 stored.to_dict())
        return stored

    def reviews(self, decision: Decision | None = None) -> list[Review]:
        """Urgency reviews (and exceptions), oldest first."""
        return ReviewRepo(self.store.db()).all(decision)

    def exceptions(self) -> list[Review]:
        """Every exception, expired ones too (``Review.expired(now)`` tells which)."""
        return self.reviews(Decision.EXCEPTION)

    def end_exception(self, review_id: int, by: str | None = None) -> Review:
        """End an exception now: its update is back under its SLA, overdue (audited).

        Raises:
            NotFoundError: no such review.
            UserError: not an exception, or already ended/expired.
        """
        now = utcnow()
        with self.store.atomic() as db:
            repo = ReviewRepo(db)
            review = repo.get(review_id)
            if review.decision is not Decision.EXCEPTION:
                raise UserError(f"Review {review_id} is a '{review.decision}' decision, not "
                                "an exception.")
            if review.expired(now):
                raise UserError(f"Exception {review_id} has already expired.")
            ended = repo.end(review_id, now, by or self.actor)
            AuditRepo(db).append(self.actor, "review.exception_end", "review", str(review_id),
                                 {"ended_by": ended.ended_by, "package": ended.package,
                                  "cve": ended.cve, "host": ended.host})
        return ended
