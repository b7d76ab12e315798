"""Edit ▸ Edit selected…: set the ring, owner, location, kind or tags of many assets at once.

Only the fields ticked change; tags are added and removed, so each asset keeps its others.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from app.core.models import Asset, AssetKind, Ring
from app.ui.models import enum_label
from app.ui.qt import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QGridLayout,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)
from app.ui.widgets import fit_to_text, plain_label


def _tags(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(t.strip() for t in text.replace(";", ",").split(",")
                               if t.strip()))


@dataclass(frozen=True, slots=True)
class BulkChange:
    """What to change on every selected asset (None: leave as it is)."""

    ring: Ring | None = None
    owner: str | None = None
    location: str | None = None
    kind: AssetKind | None = None
    add_tags: tuple[str, ...] = ()
    remove_tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return any(v is not None for v in (self.ring, self.owner, self.location, self.kind)) \
            or bool(self.add_tags or self.remove_tags)

    def apply(self, asset: Asset) -> Asset:
        """The asset with these changes (the same object when nothing changes)."""
        changes: dict[str, object] = {}
        for name in ("ring", "owner", "location", "kind"):
            value = getattr(self, name)
            if value is not None and value != getattr(asset, name):
                changes[name] = value
        if self.add_tags or self.remove_tags:
            removed = {t.lower() for t in self.remove_tags}
            tags = tuple(t for t in dict.fromkeys((*asset.tags, *self.add_tags))
                         if t.lower() not in removed)
            if tags != asset.tags:
                changes["tags"] = tags
        return asset.with_changes(**changes) if changes else asset


class BulkEditDialog(QDialog):
    """Tick the fields to change on every selected asset."""

    def __init__(self, parent: QWidget | None, assets: Sequence[Asset]) -> None:
        super().__init__(parent)
        self.setObjectName("bulkEditDialog")
        self.setWindowTitle(f"Edit {len(assets)} assets")
        self.assets = list(assets)
        names = ", ".join(a.label for a in self.assets[:4])
        more = f" and {len(self.assets) - 4} more" if len(self.assets) > 4 else ""
        intro = plain_label(f"Change {names}{more}. Only the ticked fields change.")
        self.ring = QComboBox()
        self.ring.setObjectName("bulkRing")
        for ring in Ring:
            self.ring.addItem(enum_label(ring) if ring else "No ring", str(ring))
        self.kind = QComboBox()
        self.kind.setObjectName("bulkKind")
        for kind in AssetKind:
            self.kind.addItem(enum_label(kind), str(kind))
        self.owner = QLineEdit()
        self.owner.setObjectName("bulkOwner")
        self.location = QLineEdit()
        self.location.setObjectName("bulkLocation")
        self.add_tags = QLineEdit()
        self.add_tags.setObjectName("bulkAddTags")
        self.add_tags.setPlaceholderText("comma-separated")
        self.remove_tags = QLineEdit()
        self.remove_tags.setObjectName("bulkRemoveTags")
        self.remove_tags.setPlaceholderText("comma-separated")
        self.boxes: dict[str, QCheckBox] = {}
        grid = QGridLayout()
        for row, (key, text, field) in enumerate((
                ("ring", "&Ring", self.ring), ("owner", "&Owner", self.owner),
                ("location", "&Location", self.location), ("kind", "&Kind", self.kind),
                ("add_tags", "&Add tags", self.add_tags),
                ("remove_tags", "Re&move tags", self.remove_tags))):
            box = QCheckBox(text)
            box.setObjectName(f"bulkUse_{key}")
            field.setEnabled(False)
            field.setAccessibleName(text.replace("&", ""))
            box.toggled.connect(field.setEnabled)
            box.toggled.connect(lambda _c: self._update())
            self.boxes[key] = box
            grid.addWidget(box, row, 0)
            grid.addWidget(field, row, 1)
        grid.setColumnStretch(1, 1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok
                                        | QDialogButtonBox.StandardButton.Cancel)
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setText("Apply")
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addLayout(grid)
        layout.addWidget(self.buttons)
        self._update()
        fit_to_text(self, 56)

    def _update(self) -> None:
        self.buttons.button(QDialogButtonBox.StandardButton.Ok).setEnabled(
            any(box.isChecked() for box in self.boxes.values()))

    def change(self) -> BulkChange:
        """The change the ticked fields ask for."""
        use = {key: box.isChecked() for key, box in self.boxes.items()}
        return BulkChange(
            ring=Ring(self.ring.currentData()) if use["ring"] else None,
            owner=self.owner.text().strip() if use["owner"] else None,
            location=self.location.text().strip() if use["location"] else None,
            kind=AssetKind(self.kind.currentData()) if use["kind"] else None,
            add_tags=_tags(self.add_tags.text()) if use["add_tags"] else (),
            remove_tags=_tags(self.remove_tags.text()) if use["remove_tags"] else ())

    def changed_assets(self) -> list[Asset]:
        """The selected assets that the change alters, changed."""
        change = self.change()
        return [new for old in self.assets if (new := change.apply(old)) is not old]

    @classmethod
    def ask(cls, parent: QWidget | None, assets: Sequence[Asset]) -> list[Asset]:
        """The changed assets ([] when cancelled or nothing changes); tests replace this."""
        dialog = cls(parent, assets)
        try:
            return dialog.changed_assets() if dialog.exec() == QDialog.DialogCode.Accepted \
                else []
        finally:
            dialog.deleteLater()
