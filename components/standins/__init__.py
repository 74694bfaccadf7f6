"""The lab's stand-in packages: the package names, files and units the oracle table says DGX OS ships
(components/oracle) at the versions the stack pins, labelled "podforge lab stand-in", holding marker files and
commands that answer "simulated"; built with dpkg-deb into a flat APT repository that the lab serves on its
bridge. See docs/artifacts.md and docs/oracle.md."""

from components.standins.contents import LABEL, StandinFile, StandinPackage, standin_packages, standin_sources
from components.standins.repository import (
    StandinBuildError,
    build_deb,
    build_repository,
    build_stack_repositories,
    repository_dir,
)
from components.standins.server import RepositoryServer, serve_directory

__all__ = ["LABEL", "RepositoryServer", "StandinBuildError", "StandinFile", "StandinPackage", "build_deb",
           "build_repository", "build_stack_repositories", "repository_dir", "serve_directory", "standin_packages",
           "standin_sources"]
