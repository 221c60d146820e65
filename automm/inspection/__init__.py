"""What a person sees of a running or finished search: the dashboard's trial notes and diagrams, the
study's figures, parameter importance over readable features, and the tables shared by the terminal,
the dashboard and the HTML report.

Its modules are imported by name (``from automm.inspection import tables``); importing the package itself loads nothing.
"""

__all__ = [
    "dashboard",
    "figures",
    "importance",
    "tables",
]
