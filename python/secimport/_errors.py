"""The package's exception."""

from __future__ import annotations


class SecimportError(RuntimeError):
    """The sandbox could not be set up: the ``secimport`` binary is missing,
    this process may not load eBPF programs (not root), the kernel lacks a
    feature, or the supervisor stopped answering.

    It is raised *instead of* returning an unprotected module or function:
    secimport never degrades silently.
    """
