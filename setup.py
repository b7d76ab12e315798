"""Packaging shim: ships the top-level ``resources/`` folder inside the wheel as the
``app.resources`` package (pyproject.toml cannot map a folder outside ``app/`` while also
discovering packages automatically). Everything else is configured in pyproject.toml."""

from setuptools import find_namespace_packages, setup

setup(
    packages=[
        *find_namespace_packages(include=["app", "app.*"], exclude=["app.*__pycache__*"]),
        "app.resources",
        "app.resources.icons",
        "app.resources.data",
        "app.resources.fonts",
        "app.resources.frameworks",
    ],
    package_dir={"app.resources": "resources"},
    package_data={"": ["*.sh", "*.ps1", "*.svg", "*.md", "*.json", "*.txt"],
                  "app.resources": ["data/*.json", "fonts/*.ttf", "fonts/*.txt",
                                    "frameworks/*.json"]},
)
