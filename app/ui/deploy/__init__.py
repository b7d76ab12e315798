"""The test-then-deploy wizard as a package: ``wizard`` (the QWizard and its run control),
``pages`` (choosing patches, targets and a schedule), ``run_pages`` (the live runs, the
review and approval, the summary), ``run`` (engine events to the GUI thread), ``helpers``
(page ids, grouping, windows, export) and ``questions`` (the dialogs tests replace)."""
