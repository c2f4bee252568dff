"""Ophis Navigator: a local graphical front end for environments, packages, channels and
applications, served on 127.0.0.1 and calling ``ophis.manager`` in-process."""

from ophis.navigator.app import NavigatorSettings, create_navigator_app

__all__ = ["NavigatorSettings", "create_navigator_app"]
