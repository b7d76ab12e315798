"""Every action of the main window, declared once: text, shortcuts, tip, icon, handler and
when it is enabled; the menus and the inventory's tool bar and context menu are built from
these declarations (the Picard ``picard/ui/mainwindow/actions.py`` pattern).
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from app.ui.icons import icon
from app.ui.qt import QAction, QKeySequence, QMenu, QMenuBar

if TYPE_CHECKING:
    from app.ui.mainwindow import MainWindow

Key = QKeySequence.StandardKey


class MainAction(enum.StrEnum):
    """The ids of the main window's actions."""

    NEW_SITE = "new_site"
    OPEN_SITE = "open_site"
    IMPORT = "import"
    EXPORT_CSV = "export_csv"
    EXPORT_JSON = "export_json"
    QUIT = "quit"
    UNDO = "undo"
    ADD = "add"
    EDIT = "edit"
    CRITICALITY = "criticality"
    BULK_EDIT = "bulk_edit"
    DELETE = "delete"
    FIND = "find"
    ASSESS = "assess"
    ASSESS_ALL = "assess_all"
    DEPLOY = "deploy"
    DEPLOY_SELECTED = "deploy_selected"
    SCHEDULES = "schedules"
    UNLOCK = "unlock"
    LOCK = "lock"
    ABOUT = "about"
    SHORTCUTS = "shortcuts"
    USER_GUIDE = "user_guide"


@dataclass(frozen=True, slots=True)
class ActionState:
    """What decides which actions are enabled (computed by the window)."""

    has_site: bool
    selected: int  # assets selected on the Inventory page (0 on other pages)
    idle: bool  # no deep scan running
    unlocked: bool  # the credential vault is unlocked
    can_undo: bool


@dataclass(frozen=True, slots=True)
class ActionSpec:
    """One action's declaration."""

    id: MainAction
    text: str
    handler: Callable[[MainWindow], object]
    shortcuts: tuple[str | Key, ...] = ()
    tip: str = ""
    icon: str = ""
    #: When the action is enabled (always, when None).
    enabled: Callable[[ActionState], bool] | None = None


def _has_site(state: ActionState) -> bool:
    return state.has_site


def _unlock(window: MainWindow) -> None:
    window.gate.ensure_unlocked(
        lambda: window.statusBar().showMessage("Credential vault unlocked.", 5000),
        create=True)


def _schedules(window: MainWindow) -> None:
    from app.ui.schedules import show_schedules  # imported on first use (start-up time)

    show_schedules(window)


def _lock(window: MainWindow) -> None:
    window.gate.lock()


ACTIONS: tuple[ActionSpec, ...] = (
    ActionSpec(MainAction.NEW_SITE, "&New site…", lambda w: w.new_site(), (Key.New,),
               "Create a new site file"),
    ActionSpec(MainAction.OPEN_SITE, "&Open site…", lambda w: w.open_site(), (Key.Open,),
               "Open an existing site file"),
    ActionSpec(MainAction.IMPORT, "&Import CSV…", lambda w: w.import_csv(), ("Ctrl+I",),
               "Add or update assets from a CSV file", enabled=_has_site),
    ActionSpec(MainAction.EXPORT_CSV, "&Export CSV…", lambda w: w.export("csv"), ("Ctrl+E",),
               "Write all assets to a CSV file", enabled=_has_site),
    ActionSpec(MainAction.EXPORT_JSON, "Export &JSON…", lambda w: w.export("json"), (),
               "Write all assets to a JSON file", enabled=_has_site),
    ActionSpec(MainAction.QUIT, "&Quit", lambda w: w.close(), ("Ctrl+Q",)),
    ActionSpec(MainAction.ADD, "&Add asset…", lambda w: w.add_asset(),
               ("Ctrl+Shift+A", "Insert"), "Add an asset by hand", enabled=_has_site),
    ActionSpec(MainAction.EDIT, "&Edit asset…", lambda w: w.edit_selected(), ("F2",),
               "Edit the selected asset (or press Enter)",
               enabled=lambda s: s.has_site and s.selected == 1),
    ActionSpec(MainAction.DELETE, "&Delete", lambda w: w.delete_selected(), (Key.Delete,),
               "Delete the selected assets", enabled=lambda s: s.has_site and s.selected > 0),
    ActionSpec(MainAction.FIND, "&Find", lambda w: w.focus_find(), (Key.Find,),
               "Filter the list on this page"),
    ActionSpec(MainAction.UNDO, "&Undo", lambda w: w.undo_delete(), (Key.Undo,),
               "Bring back the assets deleted last",
               enabled=lambda s: s.has_site and s.can_undo),
    ActionSpec(MainAction.ABOUT, "&About PatchDesk", lambda w: w.about()),
    ActionSpec(MainAction.USER_GUIDE, "&User guide", lambda w: w.show_user_guide(),
               (Key.HelpContents,), "How to work with PatchDesk, page by page"),
    ActionSpec(MainAction.SHORTCUTS, "&Keyboard shortcuts", lambda w: w.show_shortcuts(),
               ("Ctrl+/",), "Every keyboard shortcut"),
    ActionSpec(MainAction.ASSESS, "A&ssess selected", lambda w: w.assess_selected(),
               ("Ctrl+R",),
               "Deep-scan the selected assets over SSH: facts, software, missing updates",
               enabled=lambda s: s.has_site and s.selected > 0 and s.idle),
    ActionSpec(MainAction.ASSESS_ALL, "Assess &all", lambda w: w.assess_all(),
               ("Ctrl+Shift+R",), "Deep-scan every asset that has an IP address or host name",
               enabled=lambda s: s.has_site and s.idle),
    ActionSpec(MainAction.DEPLOY, "&Deploy updates…", lambda w: w.open_deploy_wizard(),
               ("Ctrl+D",),
               "Test ring, named approval, pilot and production waves, with rollback",
               enabled=_has_site),
    ActionSpec(MainAction.DEPLOY_SELECTED, "De&ploy to selected…",
               lambda w: w.deploy_selected_assets(), (),
               "Open the deploy wizard with the selected assets and the updates they miss",
               enabled=lambda s: s.has_site and s.selected > 0),
    ActionSpec(MainAction.SCHEDULES, "Sc&hedules…", lambda w: _schedules(w), (),
               "Jobs that run on time with the app closed: last and next runs, edit",
               enabled=_has_site),
    ActionSpec(MainAction.UNLOCK, "&Unlock credential vault…", _unlock, ("Ctrl+Shift+U",),
               "Enter the site's master password",
               enabled=lambda s: s.has_site and not s.unlocked),
    ActionSpec(MainAction.LOCK, "&Lock credential vault", _lock,
               ("Ctrl+Shift+L",), "Forget the vault key now",
               enabled=lambda s: s.has_site and s.unlocked and s.idle),
    ActionSpec(MainAction.BULK_EDIT, "Edit se&lected…", lambda w: w.bulk_edit_selected(),
               ("Ctrl+Shift+E",),
               "Set the ring, owner, location, kind or tags of the selected assets at once",
               enabled=lambda s: s.has_site and s.selected > 0),
    ActionSpec(MainAction.CRITICALITY, "Set &criticality…",
               lambda w: w.set_criticality_selected(), ("Ctrl+Shift+K",),
               "Answer the criticality questions for the selected assets at once",
               enabled=lambda s: s.has_site and s.selected > 0),
)

#: Menus by title: action ids in order; None is a separator, ``"recent"`` the File ▸ Open
#: recent submenu, ``"pages"`` one checkable entry per page and ``"theme"`` the View ▸ Theme
#: submenu.
MENUS: tuple[tuple[str, tuple[MainAction | str | None, ...]], ...] = (
    ("&File", (MainAction.NEW_SITE, MainAction.OPEN_SITE, "recent", None, MainAction.IMPORT,
               MainAction.EXPORT_CSV, MainAction.EXPORT_JSON, None, MainAction.QUIT)),
    ("&Edit", (MainAction.UNDO, None, MainAction.ADD, MainAction.EDIT, MainAction.BULK_EDIT,
               MainAction.CRITICALITY, MainAction.DELETE, None, MainAction.FIND)),
    ("&Tools", (MainAction.ASSESS, MainAction.ASSESS_ALL, MainAction.DEPLOY,
                MainAction.DEPLOY_SELECTED, MainAction.SCHEDULES, None,
                MainAction.UNLOCK, MainAction.LOCK)),
    ("&View", ("pages", None, "theme")),
    ("&Help", (MainAction.USER_GUIDE, MainAction.SHORTCUTS, None, MainAction.ABOUT)),
)
#: The Inventory page's tool buttons and its table's context menu.
INVENTORY_TOOLS = (MainAction.ADD, MainAction.IMPORT, MainAction.ASSESS)
INVENTORY_CONTEXT = (MainAction.EDIT, MainAction.BULK_EDIT, MainAction.CRITICALITY,
                     MainAction.DELETE, None, MainAction.ASSESS, MainAction.DEPLOY_SELECTED)


def _make(window: MainWindow, text: str, handler: Callable[[], object],
          shortcuts: Sequence[str | Key] = (), tip: str = "", icon_name: str = "") -> QAction:
    action = QAction(text, window)
    if icon_name:
        action.setIcon(icon(icon_name))
    if shortcuts:
        action.setShortcuts([QKeySequence(s) for s in shortcuts])
    if tip:
        action.setStatusTip(tip)
        action.setToolTip(tip)
    action.triggered.connect(lambda _checked=False: handler())
    window.addAction(action)
    return action


def create_actions(window: MainWindow) -> dict[MainAction, QAction]:
    """One QAction per declaration, parented to (and active in) the window."""
    return {spec.id: _make(window, spec.text, functools.partial(spec.handler, window),
                           spec.shortcuts, spec.tip, spec.icon)
            for spec in ACTIONS}


def create_page_actions(window: MainWindow,
                        pages: Sequence[tuple[str, str, str]]) -> list[QAction]:
    """A checkable action per page (key, label, icon): Ctrl+1 … Ctrl+9, Ctrl+0."""
    actions = []
    for number, (key, label, _icon) in enumerate(pages, start=1):
        action = _make(window, label, functools.partial(window.show_page, key),
                       [f"Ctrl+{number % 10}"])
        action.setCheckable(True)
        actions.append(action)
    return actions


def build_menus(bar: QMenuBar, actions: dict[MainAction, QAction], recent: QMenu,
                page_actions: Sequence[QAction], theme: QMenu | None = None) -> None:
    """Fill the menu bar from :data:`MENUS`."""
    for title, entries in MENUS:
        menu = bar.addMenu(title)
        for entry in entries:
            if entry is None:
                menu.addSeparator()
            elif entry == "recent":
                menu.addMenu(recent)
            elif entry == "theme":
                if theme is not None:
                    menu.addMenu(theme)
            elif entry == "pages":
                for action in page_actions:
                    menu.addAction(action)
            else:
                menu.addAction(actions[MainAction(entry)])


def fill_recent_menu(menu: QMenu, paths: Sequence[str], current: str,
                     open_path: Callable[[str], object], clear: Callable[[], object]) -> None:
    """Refill File ▸ Open recent: one entry per site file (``current`` disabled), then
    Clear list."""
    menu.clear()
    for number, path in enumerate(paths, start=1):
        # '&' marks a mnemonic in menu text; a literal one in a path is written '&&'.
        shown = f"{Path(path).name}  —  {Path(path).parent}".replace("&", "&&")
        label = f"&{number} {shown}"
        action = menu.addAction(label)
        action.setData(path)
        action.setToolTip(path)
        if path == current:
            action.setEnabled(False)
        action.triggered.connect(lambda _c=False, p=path: open_path(p))
    if not paths:
        empty = menu.addAction("No recent sites")
        empty.setEnabled(False)
    menu.addSeparator()
    clear_action = menu.addAction("Clear list")
    clear_action.setEnabled(bool(paths))
    clear_action.triggered.connect(lambda _c=False: clear())


def update_actions(actions: dict[MainAction, QAction], state: ActionState) -> None:
    """Enable each action as its declaration says."""
    for spec in ACTIONS:
        if spec.enabled is not None:
            actions[spec.id].setEnabled(spec.enabled(state))
