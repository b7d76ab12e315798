"""macOS over SSH: facts, Apple software updates and Homebrew (driver.py), installs
(deploy.py)."""
