"""The package version, in its own module so any module can import it without importing the package top."""

__version__ = "0.1.0"
