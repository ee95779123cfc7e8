"""Runbooks: what on-call does for each failure mode, and the steps that can run themselves."""

__all__ = []
