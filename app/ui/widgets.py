"""Widget factories every page uses: one read-only table setup and one plain-text label.

Pages build their tables and labels here so that a table reads, selects and scrolls the
same way everywhere, and every label that shows data (host names, package names, messages
from hosts) is plain text — never interpreted as rich text.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

from app.ui.qt import (
    QAbstractItemModel,
    QAbstractItemView,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QScrollArea,
    Qt,
    QTableView,
    QTableWidget,
    QVBoxLayout,
    QWidget,
)

_View = TypeVar("_View", bound=QTableView)


def plain_label(text: str = "", *, name: str = "", role: str = "", wrap: bool = True,
                selectable: bool = False, hidden: bool = False) -> QLabel:
    """A label that shows its text as plain text.

    Args:
        text: the initial text.
        name: the object name (tests and style sheets find the label by it).
        role: the ``role`` property the style sheet keys on (``muted``, ``section``, ...).
        wrap: wrap long lines.
        selectable: let the user select (and copy) the text with the mouse.
        hidden: start hidden (error and result lines shown on demand).
    """
    label = QLabel(text)
    label.setTextFormat(Qt.TextFormat.PlainText)
    label.setWordWrap(wrap)
    if name:
        label.setObjectName(name)
    if role:
        label.setProperty("role", role)
    if selectable:
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
    if hidden:
        label.hide()
    return label


def page_header(title: str, subtitle: str = "") -> tuple[QWidget, QLabel]:
    """A page title with a muted subtitle line; returns the widget and the subtitle label."""
    holder = QWidget()
    layout = QVBoxLayout(holder)
    layout.setContentsMargins(0, 0, 0, 4)
    layout.setSpacing(2)
    label = QLabel(title)
    label.setProperty("role", "page-title")
    sub = plain_label(subtitle, role="page-subtitle")
    layout.addWidget(label)
    layout.addWidget(sub)
    return holder, sub


def _setup_table(view: _View, name: str, accessible: str, single: bool) -> _View:
    view.setObjectName(name)
    view.setAccessibleName(accessible)
    view.setShowGrid(False)
    view.setWordWrap(False)
    view.setAlternatingRowColors(True)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    if single:
        view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.setHorizontalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
    view.setTabKeyNavigation(False)
    vertical = view.verticalHeader()
    vertical.hide()
    vertical.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
    vertical.setDefaultSectionSize(view.fontMetrics().height() + 10)
    header = view.horizontalHeader()
    header.setHighlightSections(False)
    header.setSectionsMovable(True)
    header.setStretchLastSection(True)
    header.setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return view


def make_table_view(name: str, accessible: str, model: QAbstractItemModel | None = None,
                    widths: Sequence[int] = (), *, single: bool = False) -> QTableView:
    """A read-only, row-selecting table view with fixed row heights (fast at 10k+ rows).

    A QTableView rather than a QTreeView: the tree lays out every row (calling into the
    Python model per row) whenever the filter changes; the table only touches what it shows.

    Args:
        name: the object name.
        accessible: the accessible name (what a screen reader says).
        model: the model to show, if it is known already.
        widths: the first columns' widths in pixels.
        single: select one row at a time (else extended selection).
    """
    view = _setup_table(QTableView(), name, accessible, single)
    if model is not None:
        view.setModel(model)
    for column, width in enumerate(widths):
        view.setColumnWidth(column, width)
    return view


def make_table_widget(name: str, accessible: str, headers: Sequence[str],
                      widths: Sequence[int] = (), *, single: bool = True) -> QTableWidget:
    """The same table as :func:`make_table_view`, holding its own items (small lists that a
    page fills row by row, with check boxes or widgets in cells)."""
    table = _setup_table(QTableWidget(0, len(headers)), name, accessible, single)
    table.setHorizontalHeaderLabels(list(headers))
    for column, width in enumerate(widths):
        table.setColumnWidth(column, width)
    return table


def scrolling(page: QWidget, name: str = "") -> QScrollArea:
    """``page`` in a frameless scroll area that resizes it: the page scrolls when the window
    is smaller than the page's minimum, instead of forcing that minimum on the window."""
    scroller = QScrollArea()
    scroller.setObjectName(name or f"{page.objectName() or 'page'}Scroll")
    scroller.setWidgetResizable(True)
    scroller.setFrameShape(QFrame.Shape.NoFrame)
    scroller.setWidget(page)
    return scroller


def form_row(form: QFormLayout, text: str, field: QHBoxLayout | QVBoxLayout,
             buddy: QWidget) -> QLabel:
    """A form row whose field is a layout (a value and its unit, an edit and Browse…).

    ``QFormLayout.addRow(text, layout)`` gives the label no buddy, so its ``&`` mnemonic
    shows as a literal "&"; here the label's buddy is the row's first input.
    """
    label = QLabel(text)
    label.setBuddy(buddy)
    form.addRow(label, field)
    return label


def fit_to_text(dialog: QWidget, width_chars: int = 60) -> None:
    """Size a dialog whose labels wrap so that nothing is clipped or squashed.

    A top-level widget's minimum height ignores height-for-width: word-wrapped labels are
    measured at a guessed width, and at the real width the form below them is squashed (or
    their last lines clipped). Here the dialog gets a minimum width of ``width_chars``
    average characters and the minimum height its layout needs at that width.
    """
    layout = dialog.layout()
    if layout is None:
        return
    width = max(dialog.fontMetrics().averageCharWidth() * width_chars,
                layout.minimumSize().width())
    layout.activate()
    height = max(layout.heightForWidth(width) if layout.hasHeightForWidth() else 0,
                 layout.minimumSize().height())
    dialog.setMinimumSize(width, height)
    if dialog.isVisible():  # grown for a new line: keep what the user made larger
        dialog.resize(max(dialog.width(), width), max(dialog.height(), height))
    else:
        dialog.resize(width, height)
