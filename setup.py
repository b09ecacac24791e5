"""Package discovery for the one `splitline` distribution built from several folders.

pyproject.toml holds the metadata and the package-dir map; this file only lists
the packages under each mapped folder, so a new sub-package needs no edit here.
"""

from setuptools import find_packages, setup

ROOTS = {
    "splitline": "sdk_python/splitline",
    "splitline.sidecar": "sidecar",
    "splitline.control_plane": "control_plane",
    "splitline.analytics": "analytics",
}


def discover() -> list[str]:
    packages: list[str] = []
    for name, folder in ROOTS.items():
        packages.append(name)
        packages.extend(f"{name}.{sub}" for sub in find_packages(folder, exclude=["tests", "tests.*"]))
    return packages


setup(packages=discover())
