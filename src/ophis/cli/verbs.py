"""The verbs of ``ophis``: which module registers each, and the one line ``ophis --help``
shows for it, so that the top-level help imports no command module."""

from __future__ import annotations

#: verb -> the module under ophis.cli.commands that registers it
COMMANDS = {
    "create": "change",
    "install": "change",
    "update": "change",
    "upgrade": "change",
    "remove": "change",
    "uninstall": "change",
    "list": "listing",
    "search": "query",
    "lock": "lock",
    "config": "config",
    "index": "index",
    "mirror": "mirror",
    "build": "build",
    "render": "build",
    "skeleton": "build",
    "server": "server",
    "login": "account",
    "logout": "account",
    "whoami": "account",
    "token": "account",
    "org": "account",
    "upload": "packages_remote",
    "label": "packages_remote",
    "copy": "packages_remote",
    "move": "packages_remote",
    "delete": "packages_remote",
    "show": "packages_remote",
    "download": "packages_remote",
    "env": "env",
    "info": "env",
    "compare": "env_tools",
    "rename": "env_tools",
    "notices": "notices",
    "package": "package",
    "shell": "shell",
    "activate": "shell",
    "deactivate": "shell",
    "init": "shell",
    "run": "run",
    "clean": "maintenance",
    "project": "project",
    "deployment": "project",
    "doctor": "maintenance",
    "navigator": "navigator",
    "sbom": "security",
    "audit": "security",
    "constructor": "distribution",
    "metapackage": "distribution",
    "model": "model",
}

#: visible verb -> the first paragraph of its help, in the order ``ophis --help`` lists them
#: (tests/cli/test_startup_imports.py checks it against the registered commands)
VERB_HELP = {
    "login": "Log in to a channel server; it becomes the default.",
    "logout": "Log out: revoke the token on the server and forget it here and in conda's file.",
    "whoami": "Who you are logged in as.",
    "build": "Build a recipe into tested packages in a local channel (and upload them).",
    "render": "Print the fully rendered recipe, once per variant (nothing is solved or built).",
    "create": (
        "Create a new environment from package specs, an @EXPLICIT file, a lock file or a\nclone."
    ),
    "install": "Install packages into an existing environment.",
    "update": "Update packages to the newest versions the environment allows.",
    "remove": "Remove packages from an environment.",
    "config": "Show or change configuration values in .condarc files (like 'conda config').",
    "constructor": (
        "Build a self-contained shell installer (NAME-VERSION-PLATFORM.sh) from a construct.yaml:\n"
        "the solved packages and Ophis itself, installable offline with 'sh FILE -b -p PREFIX'."
    ),
    "metapackage": (
        "Build a package with no files whose dependencies pin an environment's packages\n"
        "(name ==version build, as the anaconda metapackage does) or the specs given."
    ),
    "info": "Show the installation: configuration, channels, caches, environments.",
    "compare": "Check that an environment has every package an environment file asks for.",
    "rename": "Rename an environment: cloned under the new name, then the old one removed.",
    "index": "Index a channel directory (the conda-index job): repodata, shards and channeldata.",
    "lock": "Solve for each platform and write the exact packages into a lock file.",
    "clean": "Remove unused packages and caches.",
    "doctor": "Check an environment: missing or altered files, an interrupted transaction.",
    "mirror": "Mirror a conda channel: incremental, verified (sha256 and size), resumable.",
    "navigator": (
        "Start Ophis Navigator, a graphical front end for environments, packages, channels and\n"
        "applications. It listens on 127.0.0.1 only; its URL carries a one-time token."
    ),
    "notices": "Show the latest notices of the channels (their notices.json).",
    "package": (
        "Low-level package tools: with no option, package the environment's untracked files\n"
        "as NAME-VERSION-BUILD.tar.bz2 in the current folder."
    ),
    "upload": "Upload packages to a channel server (resumable).",
    "copy": "Copy a release (or one file) to another owner or label on a channel server.",
    "move": "Move files from one label to another on a channel server.",
    "delete": "Delete a package, a release or a file from a channel server.",
    "show": "Show an owner's packages, a package, a release or a file on a channel server.",
    "download": "Download a package's files from a channel server.",
    "list": "List the packages installed in an environment.",
    "search": "Search the channels for packages matching a spec.",
    "run": "Run a command in an environment, without activating the shell.",
    "sbom": (
        "A bill of materials: CycloneDX 1.6 (or SPDX 2.3) JSON of a package file or of an\n"
        "environment, with PURLs, hashes, licenses, dependencies and, with --feed, known\n"
        "vulnerabilities."
    ),
    "audit": (
        "List the installed packages with known vulnerabilities: their CVEs, CVSS scores,\n"
        "severities and curator statuses, from an imported feed (--feed) or from the server."
    ),
    "activate": "Activate an environment (needs the shell hook: see 'ophis shell hook --help').",
    "deactivate": "Deactivate the active environment (needs the shell hook).",
    "init": "conda's 'init': set up one or more shells' start-up files for 'ophis activate'.",
    "token": "Your API tokens on the server.",
    "org": "Organizations on the server.",
    "skeleton": "Write a starter recipe.",
    "env": "Named environments and environment files.",
    "label": "Labels of a channel (main, dev, ...).",
    "project": "Projects: a manifest, a lock file and tasks.",
    "deployment": "Projects deployed to an Ophis server.",
    "server": "Run the channel server and manage its accounts.",
    "model": "Models: weights in several quantizations, uploaded, searched, pulled and served.",
    "shell": "Shell integration: the hook and the scripts it evaluates.",
}
